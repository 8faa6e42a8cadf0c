/*
 * sr_ssh.h — one SSH connection to a VM (libssh), non-blocking and
 * independent of any event loop, carrying many channels (exec and PTY).
 *
 * The daemon is single-threaded, so nothing here sleeps or waits. The
 * loop's contract:
 *
 *   - watch sr_ssh_fd() for what sr_ssh_wants() asks (SR_SSH_WANT_READ /
 *     SR_SSH_WANT_WRITE); when it includes SR_SSH_WANT_STEP, call
 *     sr_ssh_step() again without waiting for the fd (libssh consumed
 *     input outside a step, or channel work was queued);
 *   - call sr_ssh_step() when the fd is ready, and sr_ssh_keepalive() on a
 *     timer (about once a second is fine; it paces itself);
 *   - after a step, read PTY channels until sr_ssh_chan_read() returns 0
 *     and look at exec results: data only moves inside step, so reading
 *     and writing channels never blocks and never touches the socket;
 *   - ask sr_ssh_wants() again after every call into this module.
 *
 * sr_ssh_fd() is a duplicate owned by the connection, valid and unchanged
 * from sr_ssh_connect() to sr_ssh_free() even after libssh closes its own
 * descriptor on a dropped connection, so a loop may register it once;
 * sr_ssh_free closes it, so remove the watcher first.
 *
 * With sr_loop: one fd watcher whose interest follows sr_ssh_wants()
 * (READ/WRITE -> SR_EV_READ/SR_EV_WRITE; pause it at 0), a deferred call to
 * step when SR_SSH_WANT_STEP is set, a 1 s timer calling sr_ssh_keepalive.
 *
 * Host keys are checked against one known_hosts file only (never ~/.ssh or
 * /etc/ssh), and libssh reads no ssh_config. Secrets (private key, env
 * values) never appear in messages, logs or the remote command line.
 *
 * Errors: 0 or a negative errno-style code. Connection-level codes, which
 * tell the owner whether reconnecting with backoff makes sense:
 *   -ECONNREFUSED  could not set up the connection (TCP, SSH handshake)
 *   -ETIMEDOUT     connect took longer than connect_timeout_s, or the
 *                  server stopped answering keepalives
 *   -ECONNRESET    an established connection dropped
 *   -EKEYREJECTED  the host key is not trusted (unknown under the strict
 *                  policy, or changed): do not retry blindly
 *   -EACCES        the server refused our key: do not retry blindly
 *   -EINVAL, -ENOMEM, -EIO  bad options, memory, known_hosts file trouble
 * sr_ssh_error() gives the message.
 *
 * The `local` transport (Linux only: epoll, pidfd, posix_spawn with glibc
 * extensions; sr_ssh_local.c): a connection to the literal host "local"
 * with port 0 (what sr_ssh_parse_target makes of "local"; "local:22" is an
 * SSH host named local) needs no user, key or known_hosts, which are
 * ignored. Its channels are child processes of this process, running as
 * its user: exec channels `/bin/sh -c CMDLINE` on pipes, PTY channels the
 * same (or $SHELL as a login shell) on a new pseudo-terminal; env pairs
 * are set directly (no AcceptEnv). Children start in $HOME with a
 * login-like environment (HOME, USER, LOGNAME, SHELL, PATH, LANG,
 * LANGUAGE, LC_*, TZ, TMPDIR, TMUX_TMPDIR; never the rest of the daemon's,
 * so SM_* secrets stay out), a clean signal mask, default dispositions and
 * only fds 0-2, in a session of their own. The connection is ready at
 * once and never drops: sr_ssh_step returns 1, sr_ssh_status 1, keepalive
 * sends nothing, the fingerprint is "local". sr_ssh_fd is an epoll fd over
 * the channels' fds and the children's pidfds. sr_ssh_chan_close sends
 * SIGTERM to a running child's process group, and a second later (in a
 * later step or keepalive) SIGKILL to whatever is left of that group, then
 * reaps the child; sr_ssh_free SIGKILLs and reaps every child still there
 * (the one place that waits). Nothing installs a
 * SIGCHLD handler; a handler elsewhere that reaps every child would make
 * exit statuses unknown (-1, no signal).
 */
#ifndef SR_SSH_H
#define SR_SSH_H

#include <stddef.h>
#include <sys/types.h>

struct sr_ssh;
struct sr_ssh_chan;

/* The host name of the local transport (see above). */
#define SR_SSH_LOCAL "local"

enum sr_hostkey_policy {
	SR_HOSTKEY_STRICT = 0, /* unknown host key: refuse */
	SR_HOSTKEY_ACCEPT_NEW, /* unknown: add to known_hosts; changed: refuse */
};

struct sr_ssh_opts {
	const char *host;             /* name or address; IPv6 without brackets */
	unsigned port;                /* 0 means 22 */
	const char *user;
	const char *key_path;         /* private key file, or ... */
	const char *key_data;         /* ... its text (OpenSSH or PEM), e.g.
	                               * SM_VM_SSH_KEY; exactly one of the two */
	const char *key_passphrase;   /* NULL for an unencrypted key */
	const char *known_hosts_path; /* required; the only file consulted */
	enum sr_hostkey_policy policy;
	unsigned keepalive_s;         /* keepalive interval; 0 means 15 */
	unsigned keepalive_max;       /* unanswered intervals before the
	                               * connection counts as dropped; 0 means 3 */
	unsigned connect_timeout_s;   /* connect + host key + auth; 0 means 30 */
};

/* A name=value pair sent as an SSH "env" request before the command runs:
 * how secrets reach a remote program without appearing in its argv. The
 * remote sshd accepts only names its AcceptEnv lists; a refused name fails
 * the channel. Arrays end with {NULL, NULL}. */
struct sr_env {
	const char *name;
	const char *value;
};

/* "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address; the
 * port defaults to 22. "local" alone gives host "local" and port 0 (the
 * local transport). *host is malloc'ed (caller frees, brackets removed).
 * Errors: -EINVAL (message in err), -ENOMEM. */
int sr_ssh_parse_target(const char *spec, char **host, unsigned *port, char *err, size_t errlen);

/* Starts a non-blocking connection. Options are copied and the private key
 * is read and parsed here, so opts may be freed on return. The name lookup
 * (getaddrinfo) is the one blocking part: pass an address where that
 * matters. On success *out is owned by the caller (sr_ssh_free).
 * Errors: -EINVAL (bad options, unreadable or unusable key), -ENOMEM,
 * -ECONNREFUSED (could not even start connecting); message in err. */
int sr_ssh_connect(const struct sr_ssh_opts *opts, struct sr_ssh **out, char *err, size_t errlen);

enum {
	SR_SSH_WANT_READ = 1,
	SR_SSH_WANT_WRITE = 2,
	SR_SSH_WANT_STEP = 4, /* call sr_ssh_step() now, without waiting */
};

int sr_ssh_fd(const struct sr_ssh *s);
/* SR_SSH_WANT_* bits; 0 once the connection failed. */
unsigned sr_ssh_wants(const struct sr_ssh *s);

/* Advances whatever is in progress: connect, host key check, auth, then
 * channel setup, writes, reads, resizes. Never blocks.
 * Returns 0 while connecting, 1 when ready (connected, host key verified,
 * authenticated; stays 1 while the connection lives), or a negative code
 * (see the top of this file) once it failed; it then keeps returning that
 * code and the owner frees the connection and reconnects as it sees fit. */
int sr_ssh_step(struct sr_ssh *s);

/* Call on a timer, about once a second (any period up to keepalive_s).
 * Before the connection is ready it enforces connect_timeout_s; after, it
 * sends an SSH keepalive (a global request the server must answer) every
 * keepalive_s and declares the connection dropped (-ETIMEDOUT) when nothing
 * at all came back for keepalive_max intervals — the case of a peer that
 * vanished without closing TCP. Returns 0 or the connection's error. */
int sr_ssh_keepalive(struct sr_ssh *s);

/* What sr_ssh_step last concluded, without stepping: 0 connecting, 1 ready,
 * or the connection's negative error code. */
int sr_ssh_status(const struct sr_ssh *s);

/* The failure message, "" while there is none. Valid until sr_ssh_free. */
const char *sr_ssh_error(const struct sr_ssh *s);

/* The server's host key fingerprint ("SHA256:..."), "" before it is known. */
const char *sr_ssh_host_fingerprint(const struct sr_ssh *s);

/* Closes the connection and frees it with all its channels: every
 * sr_ssh_chan of this connection is invalid afterwards. NULL is a no-op. */
void sr_ssh_free(struct sr_ssh *s);

/* ---- channels ---------------------------------------------------------
 * Channels belong to their connection. They may be started before the
 * connection is ready (they wait for it). Setup (open, pty-req, env, exec)
 * runs in sr_ssh_step; failures show as SR_CHAN_FAILED with a message. */

enum sr_chan_state {
	SR_CHAN_STARTING, /* opening / requesting pty, env, exec */
	SR_CHAN_RUNNING,  /* the remote command runs */
	SR_CHAN_ENDED,    /* the remote closed the channel (exit status known) */
	SR_CHAN_FAILED,   /* setup refused or the connection dropped */
};

/* Runs cmdline (already shell-quoted, see sr_quote.h) without a PTY and
 * collects stdout and stderr (each up to 8 MiB; more is discarded and
 * flagged) and the exit status: see sr_ssh_exec_result. Its stdin is open:
 * sr_ssh_chan_write and sr_ssh_chan_send_eof work.
 * Errors: -EINVAL, -ENOMEM, or the connection's error if it failed. */
int sr_ssh_exec_start(struct sr_ssh *s, const char *cmdline, struct sr_ssh_chan **out);

/* Runs cmdline (NULL: the login shell) on a PTY of cols x rows with TERM
 * term (NULL: "xterm-256color"), after sending env (NULL or an array
 * ending with {NULL, NULL}; copied, and wiped once sent). Output is read
 * with sr_ssh_chan_read (stdout and stderr merged, as on a terminal).
 * Errors: -EINVAL, -ENOMEM, or the connection's error if it failed. */
int sr_ssh_pty_start(struct sr_ssh *s, const char *term, unsigned cols, unsigned rows,
		     const char *cmdline, const struct sr_env *env, struct sr_ssh_chan **out);

enum sr_chan_state sr_ssh_chan_state(const struct sr_ssh_chan *c);

/* PTY channels: copies up to n buffered output bytes into buf. Returns the
 * count, 0 when nothing is buffered now, -EPIPE when the remote's output
 * ended (EOF) and everything was read, or another negative code when the
 * channel failed (-ECONNRESET: connection dropped; sr_ssh_chan_error).
 * At most 1 MiB is buffered per channel; beyond that the remote is held
 * back (SSH flow control) until the owner reads. -EINVAL on exec channels. */
ssize_t sr_ssh_chan_read(struct sr_ssh_chan *c, void *buf, size_t n);

/* Queues all n bytes for the remote (never a partial write: concurrent
 * writers cannot interleave inside one call); step sends them in order as
 * the SSH window allows. Returns 0, -EPIPE when the channel ended or EOF
 * was sent, -ENOBUFS when more than 4 MiB would be pending, or the channel's
 * error. */
int sr_ssh_chan_write(struct sr_ssh_chan *c, const void *buf, size_t n);

/* Bytes queued and not yet handed to libssh. */
size_t sr_ssh_chan_pending(const struct sr_ssh_chan *c);

/* Sends EOF (end of the remote's stdin) once the queue is flushed. */
int sr_ssh_chan_send_eof(struct sr_ssh_chan *c);

/* PTY channels: window-change to cols x rows (sent as soon as the channel
 * runs; only the latest size is sent). -EINVAL on exec channels. */
int sr_ssh_chan_resize(struct sr_ssh_chan *c, unsigned cols, unsigned rows);

struct sr_ssh_exit {
	int status;       /* 0..255, or -1 when killed by a signal or unknown */
	char signal[32];  /* signal name without "SIG", "" if none */
	int core_dumped;
};

/* 0 when the remote ended the channel (out filled), -EAGAIN while it runs,
 * or the channel's error when it failed. */
int sr_ssh_chan_exit(const struct sr_ssh_chan *c, struct sr_ssh_exit *out);

struct sr_ssh_exec_result {
	const char *out;   /* stdout, NUL-terminated; owned by the channel */
	size_t out_len;
	const char *err;   /* stderr, same */
	size_t err_len;
	int truncated;     /* output beyond 8 MiB per stream was discarded */
	struct sr_ssh_exit exit;
};

/* Exec channels: 0 when the command ended and all output arrived (pointers
 * valid until sr_ssh_chan_close), -EAGAIN while it runs, or the channel's
 * error when it failed. -EINVAL on PTY channels. */
int sr_ssh_exec_result(const struct sr_ssh_chan *c, struct sr_ssh_exec_result *out);

/* Why the channel failed, "" otherwise. */
const char *sr_ssh_chan_error(const struct sr_ssh_chan *c);

/* Gives the channel back: a command still running is sent SIGTERM (a
 * "signal" request; OpenSSH 9.2 refuses it on root logins, where a non-PTY
 * command then runs on until it ends or writes; on a PTY the hangup ends
 * it anyway), the channel is closed and freed, later inside sr_ssh_step if
 * its open request is still in flight. Unread output is dropped. c is
 * invalid afterwards. NULL is a no-op. */
void sr_ssh_chan_close(struct sr_ssh_chan *c);

#endif
