/*
 * sr_ssh.c — see sr_ssh.h.
 *
 * How non-blocking libssh is driven here. The session is in non-blocking
 * mode, so every libssh call that waits for the server (connect, auth,
 * channel open, channel requests) returns SSH_AGAIN and must be called
 * again, with the same arguments, until it settles; each channel keeps its
 * own small state machine for that. Any libssh call may also process
 * incoming packets as a side effect (it polls the socket with a zero
 * timeout), which would leave the loop's poll() with nothing to wake it for
 * data libssh already read. Two rules keep that invisible to the loop:
 *   - libssh is called for I/O only inside sr_ssh_step (and connect and
 *     keepalive); channel reads and writes go through our own buffers;
 *   - libssh's socket byte counter (ssh_set_counters) tells when input was
 *     consumed: step repeats while a pass consumed input, and sr_ssh_wants
 *     asks for another step when something outside a step did.
 *
 * The `local` transport (sr_ssh_local.c) sits behind the same functions:
 * a connection to the literal host "local" (port 0) holds an srl instead
 * of a libssh session, its channels an srl_chan, and every public function
 * below starts by handing such a connection or channel over. Buffers are
 * shared with it through sr_ssh_int.h.
 */
#include "sr_ssh.h"
#include "sr_ssh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h> /* ssh_send_keepalive is declared there */

#define WRITE_CHUNK 32768u        /* one ssh_channel_write call */
#define MAX_PASSES 16             /* step passes before yielding to the loop */
#define DEFAULT_PORT 22
#define DEFAULT_KEEPALIVE_S 15
#define DEFAULT_KEEPALIVE_MAX 3
#define DEFAULT_CONNECT_TIMEOUT_S 30

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_secret(char *s)
{
	if (s) {
		wipe(s, strlen(s));
		free(s);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_msg(char *dst, size_t len, const char *fmt, va_list ap)
{
	if (dst && len)
		vsnprintf(dst, len, fmt, ap);
}

static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_msg(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- state ------------------------------------------------------------ */

enum conn_state { ST_CONNECTING, ST_AUTH, ST_READY, ST_DEAD };

enum chan_setup { CH_OPEN, CH_PTY, CH_ENV, CH_EXEC, CH_RUNNING, CH_ENDED, CH_FAILED };

struct sr_ssh_chan {
	struct sr_ssh *ssh;
	struct sr_ssh_chan *next;
	struct srl_chan *local; /* a local channel: nothing below is used */
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb; /* must live as long as ch */
	bool pty;
	enum chan_setup st;
	char *cmd;        /* NULL: login shell */
	char *term;
	unsigned cols, rows;
	char **env;       /* name, value, name, value, ...; values wiped once sent */
	size_t nenv, env_i;
	bool resize_pending;
	struct buf in;    /* stdout (PTY: everything) */
	struct buf err;   /* exec stderr */
	bool truncated;
	struct buf wq;    /* queued input */
	bool eof_wanted, eof_sent, write_closed;
	bool remote_eof, remote_closed;
	bool open_sent;   /* the open request went out */
	bool detached;    /* the owner closed it while opening: free in step */
	bool has_exit;
	struct sr_ssh_exit exit;
	int err_code;
	char errmsg[384];
};

struct sr_ssh {
	struct srl *local;    /* the local transport: only st, fp, chans used */
	ssh_session ses;
	ssh_event ev;         /* pumps the session once it is ready */
	ssh_key key;          /* private key, freed right after auth */
	int fd;               /* our dup of libssh's socket */
	enum conn_state st;
	int err_code;
	char errmsg[1024];
	char *host, *user, *known_hosts;
	unsigned port;
	char where[300];      /* "host:port" or "[v6]:port" for messages */
	enum sr_hostkey_policy policy;
	char fp[128];
	unsigned keepalive_s, keepalive_max, connect_timeout_s;
	double started, ka_last;
	uint64_t ka_seen;     /* sc.in_bytes at the last keepalive check */
	unsigned ka_missed;
	struct ssh_counter_struct sc, rc; /* socket bytes, packets */
	uint64_t seen_in;     /* sc.in_bytes when the last step ended */
	bool kick;            /* step has work that does not wait for the fd */
	struct sr_ssh_chan *chans;
};

/* ---- target parsing --------------------------------------------------- */

static int parse_port(const char *p, unsigned *port)
{
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	unsigned v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

int sr_ssh_parse_target(const char *spec, char **host, unsigned *port, char *err, size_t errlen)
{
	*host = NULL;
	*port = DEFAULT_PORT;
	if (!spec || !*spec)
		return errf(err, errlen, -EINVAL, "empty SSH target: expected host or host:port");
	if (!strcmp(spec, SR_SSH_LOCAL)) {
		*port = 0; /* the local transport; "local:22" is a host named local */
		*host = xstrdup(spec);
		return *host ? 0 : errf(err, errlen, -ENOMEM, "out of memory");
	}
	for (const char *p = spec; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return errf(err, errlen, -EINVAL, "SSH target '%s' contains a space or control character", spec);
	if (strchr(spec, '@'))
		return errf(err, errlen, -EINVAL, "SSH target '%s' contains '@': give the user separately", spec);
	const char *h = spec, *portstr = NULL;
	size_t hlen;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close == spec + 1)
			return errf(err, errlen, -EINVAL, "SSH target '%s': unbalanced or empty [ ]", spec);
		h = spec + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1])
			return errf(err, errlen, -EINVAL, "SSH target '%s': expected ':port' after ']'", spec);
	} else {
		const char *colon = strchr(spec, ':');
		if (colon && strchr(colon + 1, ':')) {
			hlen = strlen(spec); /* bare IPv6 address */
		} else if (colon) {
			hlen = (size_t)(colon - spec);
			portstr = colon + 1;
		} else {
			hlen = strlen(spec);
		}
	}
	if (hlen == 0)
		return errf(err, errlen, -EINVAL, "SSH target '%s' has no host", spec);
	if (h[0] == '-')
		return errf(err, errlen, -EINVAL, "SSH target '%s' starts with '-'", spec);
	if (portstr && parse_port(portstr, port) < 0)
		return errf(err, errlen, -EINVAL, "SSH target '%s': port must be a number from 1 to 65535", spec);
	char *out = malloc(hlen + 1);
	if (!out)
		return errf(err, errlen, -ENOMEM, "out of memory");
	memcpy(out, h, hlen);
	out[hlen] = '\0';
	*host = out;
	return 0;
}

/* ---- connection ------------------------------------------------------- */

static void chan_fail(struct sr_ssh_chan *c, int code, const char *fmt, ...)
{
	if (c->st == CH_FAILED)
		return;
	va_list ap;
	va_start(ap, fmt);
	set_msg(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->err_code = code;
	c->st = CH_FAILED;
}

/* Records the failure (first one wins), fails the channels still running and
 * returns code. libssh may already have closed its socket; our dup of the
 * fd stays open until sr_ssh_free. */
static int die(struct sr_ssh *s, int code, const char *fmt, ...)
{
	if (s->st == ST_DEAD)
		return s->err_code;
	va_list ap;
	va_start(ap, fmt);
	set_msg(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	s->err_code = code;
	s->st = ST_DEAD;
	for (struct sr_ssh_chan *c = s->chans; c; c = c->next)
		if (c->st != CH_ENDED)
			chan_fail(c, code, "%s", s->errmsg);
	if (s->key) {
		ssh_key_free(s->key);
		s->key = NULL;
	}
	return code;
}

static bool session_alive(struct sr_ssh *s)
{
	return ssh_is_connected(s->ses) && !(ssh_get_status(s->ses) & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

static int lost(struct sr_ssh *s)
{
	return die(s, -ECONNRESET, "SSH connection to %s lost: %s", s->where, ssh_get_error(s->ses));
}

/* "SHA256:..." of a key; "" if libssh cannot hash it. */
static void key_fingerprint(ssh_key key, char *out, size_t len)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	out[0] = '\0';
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
		return;
	char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	if (fp) {
		snprintf(out, len, "%s", fp);
		ssh_string_free_char(fp);
	}
	ssh_clean_pubkey_hash(&hash);
}

/* The fingerprints known_hosts holds for this host ("SHA256:... (type)",
 * comma separated), for the changed-key message. libssh reports only that
 * the key changed, not what it changed from. */
static void known_fingerprints(struct sr_ssh *s, char *out, size_t len)
{
	out[0] = '\0';
	char hostport[320];
	if (s->port == DEFAULT_PORT)
		snprintf(hostport, sizeof(hostport), "%s", s->host);
	else
		snprintf(hostport, sizeof(hostport), "[%s]:%u", s->host, s->port);
	FILE *f = fopen(s->known_hosts, "r");
	if (!f)
		return;
	char line[8192];
	size_t used = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		struct ssh_knownhosts_entry *e = NULL;
		if (ssh_known_hosts_parse_line(hostport, p, &e) != SSH_OK || !e) {
			ssh_knownhosts_entry_free(e);
			continue;
		}
		char fp[128];
		key_fingerprint(e->publickey, fp, sizeof(fp));
		const char *type = ssh_key_type_to_char(ssh_key_type(e->publickey));
		if (fp[0] && used < len) {
			int n = snprintf(out + used, len - used, "%s%s (%s)", used ? ", " : "", fp,
					 type ? type : "?");
			if (n > 0)
				used += (size_t)n;
		}
		ssh_knownhosts_entry_free(e);
	}
	fclose(f);
}

static int verify_host(struct sr_ssh *s)
{
	ssh_key srv = NULL;
	if (ssh_get_server_publickey(s->ses, &srv) != SSH_OK || !srv)
		return die(s, -ECONNREFUSED, "SSH server at %s sent no usable host key", s->where);
	key_fingerprint(srv, s->fp, sizeof(s->fp));
	const char *type = ssh_key_type_to_char(ssh_key_type(srv));
	if (!type)
		type = "unknown type";
	char type_copy[64];
	snprintf(type_copy, sizeof(type_copy), "%s", type);
	ssh_key_free(srv);

	enum ssh_known_hosts_e kh = ssh_session_is_known_server(s->ses);
	switch (kh) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER: {
		char known[1024];
		known_fingerprints(s, known, sizeof(known));
		return die(s, -EKEYREJECTED,
			   "HOST KEY MISMATCH for %s: the server presented %s (%s) but %s has %s for it. "
			   "Someone may be intercepting the connection, or the VM was reinstalled. "
			   "Refusing to connect (SM_VM_HOST_KEY_POLICY=accept-new never replaces a known key); "
			   "if the change is expected, remove the old entry from %s",
			   s->where, s->fp, type_copy, s->known_hosts, known[0] ? known : "another key",
			   s->known_hosts);
	}
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (s->policy != SR_HOSTKEY_ACCEPT_NEW)
			return die(s, -EKEYREJECTED,
				   "host key for %s is not in %s (fingerprint %s, %s); "
				   "add it or set SM_VM_HOST_KEY_POLICY=accept-new",
				   s->where, s->known_hosts, s->fp, type_copy);
		if (ssh_session_update_known_hosts(s->ses) != SSH_OK)
			return die(s, -EIO, "cannot add the host key of %s to %s: %s", s->where, s->known_hosts,
				   ssh_get_error(s->ses));
		return 0;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		return die(s, -EIO, "cannot check the host key of %s against %s: %s", s->where, s->known_hosts,
			   ssh_get_error(s->ses));
	}
}

static int step_connect(struct sr_ssh *s)
{
	int rc = ssh_connect(s->ses);
	if (rc == SSH_AGAIN)
		return 0;
	if (rc != SSH_OK)
		return die(s, -ECONNREFUSED, "cannot connect to SSH server at %s: %s", s->where, ssh_get_error(s->ses));
	rc = verify_host(s);
	if (rc)
		return rc;
	s->st = ST_AUTH;
	return 0;
}

static int step_auth(struct sr_ssh *s)
{
	/* The user comes from SSH_OPTIONS_USER; the username argument is
	 * deprecated and must be NULL. */
	int rc = ssh_userauth_publickey(s->ses, NULL, s->key);
	switch (rc) {
	case SSH_AUTH_AGAIN:
		return 0;
	case SSH_AUTH_SUCCESS:
		break;
	case SSH_AUTH_DENIED:
		return die(s, -EACCES,
			   "SSH server at %s refused our key for user '%s' (publickey authentication denied); "
			   "its public key must be in that user's authorized_keys on the VM",
			   s->where, s->user);
	case SSH_AUTH_PARTIAL:
		return die(s, -EACCES,
			   "SSH server at %s accepted our key for user '%s' but demands another authentication "
			   "method, which smrelay does not support",
			   s->where, s->user);
	default:
		if (!session_alive(s))
			return lost(s);
		return die(s, -ECONNREFUSED, "SSH authentication with %s failed: %s", s->where,
			   ssh_get_error(s->ses));
	}
	ssh_key_free(s->key);
	s->key = NULL;
	/* From here on nothing else pumps the session while no channel
	 * exists: an event of our own polls its socket (zero timeout). */
	s->ev = ssh_event_new();
	if (!s->ev || ssh_event_add_session(s->ev, s->ses) != SSH_OK)
		return die(s, -ENOMEM, "cannot set up libssh polling for %s", s->where);
	s->st = ST_READY;
	s->ka_last = now_s();
	s->ka_seen = s->sc.in_bytes;
	return 0;
}

/* ---- channels: state machine ------------------------------------------ */

static void on_exit_status(ssh_session ses, ssh_channel ch, int status, void *ud)
{
	(void)ses;
	(void)ch;
	struct sr_ssh_chan *c = ud;
	c->has_exit = true;
	c->exit.status = status;
}

static void on_exit_signal(ssh_session ses, ssh_channel ch, const char *sig, int core, const char *errmsg,
			   const char *lang, void *ud)
{
	(void)ses;
	(void)ch;
	(void)errmsg;
	(void)lang;
	struct sr_ssh_chan *c = ud;
	c->has_exit = true;
	c->exit.status = -1;
	snprintf(c->exit.signal, sizeof(c->exit.signal), "%s", sig ? sig : "?");
	c->exit.core_dumped = core != 0;
}

static void on_eof(ssh_session ses, ssh_channel ch, void *ud)
{
	(void)ses;
	(void)ch;
	((struct sr_ssh_chan *)ud)->remote_eof = true;
}

/* libssh's own "closed" state lags when data is still buffered at close
 * (delayed close), so the callback is what tells us. */
static void on_close(ssh_session ses, ssh_channel ch, void *ud)
{
	(void)ses;
	(void)ch;
	struct sr_ssh_chan *c = ud;
	c->remote_closed = true;
	c->remote_eof = true;
}

static void chan_wipe_env(struct sr_ssh_chan *c)
{
	for (size_t i = 0; i < c->nenv; i++) {
		free(c->env[2 * i]);
		free_secret(c->env[2 * i + 1]);
	}
	free(c->env);
	c->env = NULL;
	c->nenv = c->env_i = 0;
}

static void chan_destroy(struct sr_ssh_chan *c)
{
	chan_wipe_env(c);
	free(c->cmd);
	free(c->term);
	buf_free(&c->in);
	buf_free(&c->err);
	buf_free(&c->wq);
	free(c);
}

/* Gives the libssh channel back and frees ours. ssh_channel_free sends
 * CLOSE when needed and keeps libssh's struct until the server's CLOSE
 * arrives, so this is safe at any point after the open settled. */
static void chan_release(struct sr_ssh_chan *c)
{
	struct sr_ssh *s = c->ssh;
	for (struct sr_ssh_chan **pp = &s->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->ch) {
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		/* Without a PTY nothing signals a command whose channel
		 * closes (it would run on, e.g. a sleep); ask sshd to TERM
		 * it. The request wants no reply, so it cannot block. */
		if (c->st == CH_RUNNING && !c->remote_closed && s->st == ST_READY)
			ssh_channel_request_send_signal(c->ch, "TERM");
		ssh_channel_free(c->ch);
	}
	chan_destroy(c);
}

/* Moves what libssh buffered for the channel into ours. */
static void chan_drain(struct sr_ssh_chan *c, int is_stderr)
{
	char tmp[16384];
	struct buf *b = (c->pty || !is_stderr) ? &c->in : &c->err;
	for (;;) {
		size_t room = sizeof(tmp);
		if (c->pty) {
			/* Stop taking data: libssh then stops widening the window
			 * and the remote program is held back. */
			if (buf_used(b) >= PTY_IN_CAP)
				return;
			if (PTY_IN_CAP - buf_used(b) < room)
				room = PTY_IN_CAP - buf_used(b);
		}
		int n = ssh_channel_read_nonblocking(c->ch, tmp, (uint32_t)room, is_stderr);
		if (n <= 0)
			return; /* 0: nothing; SSH_EOF; SSH_ERROR: the session check sees it */
		if (!c->pty && buf_used(b) + (size_t)n > EXEC_OUT_CAP) {
			c->truncated = true;
			continue;
		}
		if (buf_add(b, tmp, (size_t)n) < 0) {
			chan_fail(c, -ENOMEM, "out of memory buffering channel output");
			return;
		}
	}
}

static void chan_run(struct sr_ssh_chan *c)
{
	if (c->resize_pending && c->pty) {
		/* window-change wants no reply, so it never returns SSH_AGAIN. */
		if (ssh_channel_change_pty_size(c->ch, (int)c->cols, (int)c->rows) == SSH_OK)
			c->resize_pending = false;
	}
	while (buf_used(&c->wq) && !c->write_closed) {
		size_t n = buf_used(&c->wq);
		if (n > WRITE_CHUNK)
			n = WRITE_CHUNK;
		int w = ssh_channel_write(c->ch, c->wq.p + c->wq.off, (uint32_t)n);
		if (w < 0) {
			/* The remote closed its side: what is queued can never
			 * be delivered. */
			c->write_closed = true;
			wipe(c->wq.p, c->wq.cap);
			c->wq.off = c->wq.len = 0;
			break;
		}
		if (w == 0)
			break; /* window full (or key re-exchange): wait for the server */
		wipe(c->wq.p + c->wq.off, (size_t)w);
		buf_consume(&c->wq, (size_t)w);
	}
	if (c->eof_wanted && !c->eof_sent && !buf_used(&c->wq) && !c->write_closed) {
		ssh_channel_send_eof(c->ch);
		c->eof_sent = true;
	}
	chan_drain(c, 0);
	if (c->st == CH_RUNNING)
		chan_drain(c, 1);
	if (c->st == CH_RUNNING && c->remote_closed && ssh_channel_is_eof(c->ch))
		c->st = CH_ENDED;
}

/* A request failed: the server refused it, unless the connection itself
 * went (step_ready then fails every channel with the connection's error). */
static bool refused(struct sr_ssh_chan *c)
{
	return session_alive(c->ssh);
}

/* Advances one channel as far as it goes without waiting. */
static void chan_step(struct sr_ssh_chan *c)
{
	struct sr_ssh *s = c->ssh;
	for (;;) {
		int rc;
		switch (c->st) {
		case CH_OPEN:
			/* libssh allocates channels only on an authenticated
			 * session, so this waits for ready too. */
			if (!c->ch) {
				c->ch = ssh_channel_new(s->ses);
				if (!c->ch || ssh_set_channel_callbacks(c->ch, &c->cb) != SSH_OK) {
					chan_fail(c, -ENOMEM, "cannot create an SSH channel: %s",
						  ssh_get_error(s->ses));
					return;
				}
			}
			c->open_sent = true;
			rc = ssh_channel_open_session(c->ch);
			if (rc == SSH_AGAIN)
				return;
			if (rc != SSH_OK) {
				if (refused(c))
					chan_fail(c, -EPERM, "SSH server at %s refused to open a session channel: %s",
						  s->where, ssh_get_error(s->ses));
				return;
			}
			if (c->detached)
				return; /* the caller releases it */
			c->st = c->pty ? CH_PTY : CH_ENV;
			break;
		case CH_PTY:
			rc = ssh_channel_request_pty_size(c->ch, c->term, (int)c->cols, (int)c->rows);
			if (rc == SSH_AGAIN)
				return;
			if (rc != SSH_OK) {
				if (refused(c)) {
					chan_fail(c, -EPERM, "SSH server at %s refused a PTY: %s", s->where,
						  ssh_get_error(s->ses));
					ssh_channel_close(c->ch);
				}
				return;
			}
			c->resize_pending = false; /* the request carried the latest size */
			c->st = CH_ENV;
			break;
		case CH_ENV:
			while (c->env_i < c->nenv) {
				rc = ssh_channel_request_env(c->ch, c->env[2 * c->env_i], c->env[2 * c->env_i + 1]);
				if (rc == SSH_AGAIN)
					return;
				if (rc != SSH_OK) {
					if (!refused(c))
						return;
					/* The name is not secret; the value never appears. */
					chan_fail(c, -EPERM,
						  "SSH server at %s refused environment variable %s "
						  "(the VM's sshd must list it in AcceptEnv)",
						  s->where, c->env[2 * c->env_i]);
					chan_wipe_env(c);
					ssh_channel_close(c->ch);
					return;
				}
				c->env_i++;
			}
			chan_wipe_env(c);
			c->st = CH_EXEC;
			break;
		case CH_EXEC:
			rc = c->cmd ? ssh_channel_request_exec(c->ch, c->cmd) : ssh_channel_request_shell(c->ch);
			if (rc == SSH_AGAIN)
				return;
			if (rc != SSH_OK) {
				if (refused(c)) {
					chan_fail(c, -EPERM, "SSH server at %s refused to run the %s: %s", s->where,
						  c->cmd ? "command" : "login shell", ssh_get_error(s->ses));
					ssh_channel_close(c->ch);
				}
				return;
			}
			c->st = CH_RUNNING;
			break;
		case CH_RUNNING:
			chan_run(c);
			return;
		default:
			return;
		}
	}
}

static int step_ready(struct sr_ssh *s)
{
	ssh_event_dopoll(s->ev, 0);
	if (!session_alive(s))
		return lost(s);
	for (struct sr_ssh_chan *c = s->chans, *next; c; c = next) {
		next = c->next;
		chan_step(c);
		/* A channel the owner gave up while it was opening goes as
		 * soon as the open settled. */
		if (c->detached && c->st != CH_OPEN)
			chan_release(c);
	}
	if (!session_alive(s))
		return lost(s);
	return 0;
}

int sr_ssh_step(struct sr_ssh *s)
{
	if (s->local)
		return srl_step(s->local);
	if (s->st == ST_DEAD)
		return s->err_code;
	s->kick = false;
	int pass;
	for (pass = 0; pass < MAX_PASSES; pass++) {
		uint64_t in0 = s->sc.in_bytes;
		enum conn_state st0 = s->st;
		int rc;
		switch (s->st) {
		case ST_CONNECTING:
			rc = step_connect(s);
			break;
		case ST_AUTH:
			rc = step_auth(s);
			break;
		case ST_READY:
			rc = step_ready(s);
			break;
		default:
			rc = s->err_code;
			break;
		}
		if (rc < 0)
			return rc;
		/* Quiet pass: nothing consumed, no state change, so the fd's
		 * readiness tells the truth again. */
		if (s->st == st0 && s->sc.in_bytes == in0)
			break;
	}
	if (pass == MAX_PASSES)
		s->kick = true;
	s->seen_in = s->sc.in_bytes;
	if (s->st != ST_READY && now_s() - s->started > s->connect_timeout_s)
		return die(s, -ETIMEDOUT, "SSH connection to %s not ready after %u s (%s)", s->where,
			   s->connect_timeout_s, s->st == ST_AUTH ? "authenticating" : "connecting");
	return s->st == ST_READY;
}

int sr_ssh_keepalive(struct sr_ssh *s)
{
	if (s->local)
		return srl_keepalive(s->local);
	if (s->st == ST_DEAD)
		return s->err_code;
	double now = now_s();
	if (s->st != ST_READY) {
		if (now - s->started > s->connect_timeout_s)
			return die(s, -ETIMEDOUT, "SSH connection to %s not ready after %u s (%s)", s->where,
				   s->connect_timeout_s, s->st == ST_AUTH ? "authenticating" : "connecting");
		return 0;
	}
	if (now - s->ka_last < s->keepalive_s)
		return 0;
	s->ka_last = now;
	/* Count what arrived, not just keepalive answers: any traffic proves
	 * the server is there. Pump first so arrived bytes are counted. */
	ssh_event_dopoll(s->ev, 0);
	if (!session_alive(s))
		return lost(s);
	if (s->sc.in_bytes != s->ka_seen) {
		s->ka_seen = s->sc.in_bytes;
		s->ka_missed = 0;
	} else if (++s->ka_missed >= s->keepalive_max) {
		return die(s, -ETIMEDOUT,
			   "SSH connection to %s dropped: no answer to keepalives for %u s",
			   s->where, s->keepalive_s * s->keepalive_max);
	}
	/* libssh sends "keepalive@openssh.com" with want_reply as a global
	 * request; in non-blocking mode a call either sends one or, when the
	 * previous one is still marked pending, only collects its answer.
	 * Call again if nothing went out, so each interval sends one. */
	uint64_t out0 = s->rc.out_packets;
	ssh_send_keepalive(s->ses);
	if (s->rc.out_packets == out0)
		ssh_send_keepalive(s->ses);
	if (!session_alive(s))
		return lost(s);
	return 0;
}

/* ---- public: connection ----------------------------------------------- */

static int load_key(const struct sr_ssh_opts *o, ssh_key *key, char *err, size_t errlen)
{
	*key = NULL;
	int rc;
	if (o->key_path) {
		if (access(o->key_path, R_OK) != 0)
			return errf(err, errlen, -EINVAL, "cannot read the SSH private key file %s: %s", o->key_path,
				    strerror(errno));
		rc = ssh_pki_import_privkey_file(o->key_path, o->key_passphrase, NULL, NULL, key);
		if (rc != SSH_OK || !*key || !ssh_key_is_private(*key)) {
			ssh_key_free(*key);
			*key = NULL;
			return errf(err, errlen, -EINVAL,
				    "the SSH private key file %s is not a usable private key "
				    "(OpenSSH or PEM format, unencrypted or with the right passphrase)",
				    o->key_path);
		}
		return 0;
	}
	/* Despite its name this takes the whole PEM/OpenSSH text. */
	rc = ssh_pki_import_privkey_base64(o->key_data, o->key_passphrase, NULL, NULL, key);
	if (rc != SSH_OK || !*key || !ssh_key_is_private(*key)) {
		ssh_key_free(*key);
		*key = NULL;
		return errf(err, errlen, -EINVAL,
			    "the SSH private key given as text (SM_VM_SSH_KEY) is not a usable private key "
			    "(expected the whole OpenSSH or PEM file, unencrypted or with the right passphrase)");
	}
	return 0;
}

/* The local transport: ready at once; user, key and known_hosts unused. */
static int connect_local(struct sr_ssh **out, char *err, size_t errlen)
{
	struct sr_ssh *s = calloc(1, sizeof(*s));
	if (!s)
		return errf(err, errlen, -ENOMEM, "out of memory");
	s->fd = -1;
	int rc = srl_new(&s->local, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->st = ST_READY;
	snprintf(s->fp, sizeof(s->fp), "%s", SR_SSH_LOCAL);
	*out = s;
	return 0;
}

int sr_ssh_connect(const struct sr_ssh_opts *o, struct sr_ssh **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (o && o->host && !strcmp(o->host, SR_SSH_LOCAL) && o->port == 0)
		return connect_local(out, err, errlen);
	if (!o || !o->host || !*o->host)
		return errf(err, errlen, -EINVAL, "no SSH host given");
	if (!o->user || !*o->user)
		return errf(err, errlen, -EINVAL, "no SSH user given");
	if (!o->known_hosts_path || !*o->known_hosts_path)
		return errf(err, errlen, -EINVAL, "no known_hosts file given");
	/* libssh expands %d, %u, ... in this path. */
	if (strchr(o->known_hosts_path, '%'))
		return errf(err, errlen, -EINVAL, "the known_hosts path %s must not contain '%%'", o->known_hosts_path);
	if (!o->key_path == !o->key_data || (o->key_data && !*o->key_data) || (o->key_path && !*o->key_path))
		return errf(err, errlen, -EINVAL, "give exactly one SSH private key: a file or its text");
	if (o->port > 65535)
		return errf(err, errlen, -EINVAL, "SSH port %u is out of range", o->port);

	struct sr_ssh *s = calloc(1, sizeof(*s));
	if (!s)
		return errf(err, errlen, -ENOMEM, "out of memory");
	s->fd = -1;
	s->port = o->port ? o->port : DEFAULT_PORT;
	s->policy = o->policy;
	s->keepalive_s = o->keepalive_s ? o->keepalive_s : DEFAULT_KEEPALIVE_S;
	s->keepalive_max = o->keepalive_max ? o->keepalive_max : DEFAULT_KEEPALIVE_MAX;
	s->connect_timeout_s = o->connect_timeout_s ? o->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
	s->host = xstrdup(o->host);
	s->user = xstrdup(o->user);
	s->known_hosts = xstrdup(o->known_hosts_path);
	int rc;
	if (!s->host || !s->user || !s->known_hosts) {
		rc = errf(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(s->where, sizeof(s->where), strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host, s->port);
	rc = load_key(o, &s->key, err, errlen);
	if (rc)
		goto fail;

	s->ses = ssh_new();
	if (!s->ses) {
		rc = errf(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	unsigned int port = s->port;
	bool process_config = false; /* no ~/.ssh/config, no /etc/ssh/ssh_config */
	/* Without TCP_NODELAY, Nagle holds a small request (a channel open)
	 * behind the server's delayed ACK of the previous one: ~40 ms per
	 * remote step, measured by bench_relay. */
	int nodelay = 1;
	if (ssh_options_set(s->ses, SSH_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
	    ssh_options_set(s->ses, SSH_OPTIONS_HOST, s->host) < 0 ||
	    ssh_options_set(s->ses, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s->ses, SSH_OPTIONS_USER, s->user) < 0 ||
	    ssh_options_set(s->ses, SSH_OPTIONS_NODELAY, &nodelay) < 0 ||
	    ssh_options_set(s->ses, SSH_OPTIONS_KNOWNHOSTS, s->known_hosts) < 0 ||
	    /* Never fall back to /etc/ssh/ssh_known_hosts. */
	    ssh_options_set(s->ses, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0) {
		rc = errf(err, errlen, -EINVAL, "invalid SSH options for %s: %s", s->where, ssh_get_error(s->ses));
		goto fail;
	}
	ssh_set_counters(s->ses, &s->sc, &s->rc);
	ssh_set_blocking(s->ses, 0);
	s->started = now_s();
	rc = ssh_connect(s->ses);
	if (rc == SSH_ERROR) {
		rc = errf(err, errlen, -ECONNREFUSED, "cannot connect to SSH server at %s: %s", s->where,
			  ssh_get_error(s->ses));
		goto fail;
	}
	/* A duplicate the loop can keep registered: libssh closes its own
	 * descriptor when the connection drops. */
	s->fd = fcntl(ssh_get_fd(s->ses), F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = errf(err, errlen, -errno, "cannot duplicate the SSH socket: %s", strerror(errno));
		goto fail;
	}
	s->st = ST_CONNECTING;
	s->kick = true; /* the first call may already have progressed */
	*out = s;
	return 0;
fail:
	sr_ssh_free(s);
	return rc;
}

int sr_ssh_fd(const struct sr_ssh *s)
{
	return s->local ? srl_fd(s->local) : s->fd;
}

unsigned sr_ssh_wants(const struct sr_ssh *s)
{
	if (s->local)
		return srl_wants(s->local);
	if (s->st == ST_DEAD)
		return 0;
	unsigned w = SR_SSH_WANT_READ;
	if (ssh_get_poll_flags(s->ses) & SSH_WRITE_PENDING)
		w |= SR_SSH_WANT_WRITE;
	if (s->kick || s->sc.in_bytes != s->seen_in)
		w |= SR_SSH_WANT_STEP;
	return w;
}

int sr_ssh_status(const struct sr_ssh *s)
{
	if (s->st == ST_DEAD)
		return s->err_code < 0 ? s->err_code : -EIO;
	return s->st == ST_READY;
}

const char *sr_ssh_error(const struct sr_ssh *s)
{
	return s->st == ST_DEAD ? s->errmsg : "";
}

const char *sr_ssh_host_fingerprint(const struct sr_ssh *s)
{
	return s->fp;
}

void sr_ssh_free(struct sr_ssh *s)
{
	if (!s)
		return;
	while (s->chans) {
		struct sr_ssh_chan *c = s->chans;
		s->chans = c->next;
		/* ssh_free below frees libssh's channels; only detach ours. */
		if (c->ch)
			ssh_remove_channel_callbacks(c->ch, &c->cb);
		chan_destroy(c);
	}
	srl_free(s->local); /* its channels (their handles went above) */
	if (s->ev) {
		ssh_event_remove_session(s->ev, s->ses);
		ssh_event_free(s->ev);
	}
	if (s->ses) {
		if (s->st != ST_DEAD && ssh_is_connected(s->ses))
			ssh_disconnect(s->ses);
		ssh_free(s->ses);
	}
	if (s->key)
		ssh_key_free(s->key);
	if (s->fd >= 0)
		close(s->fd);
	free(s->host);
	free(s->user);
	free(s->known_hosts);
	free(s);
}

/* ---- public: channels ------------------------------------------------- */

static int chan_new(struct sr_ssh *s, bool pty, const char *cmdline, struct sr_ssh_chan **out)
{
	*out = NULL;
	if (s->st == ST_DEAD)
		return s->err_code;
	struct sr_ssh_chan *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ssh = s;
	c->pty = pty;
	c->exit.status = -1;
	if (cmdline && !(c->cmd = xstrdup(cmdline))) {
		free(c);
		return -ENOMEM;
	}
	ssh_callbacks_init(&c->cb);
	c->cb.userdata = c;
	c->cb.channel_exit_status_function = on_exit_status;
	c->cb.channel_exit_signal_function = on_exit_signal;
	c->cb.channel_eof_function = on_eof;
	c->cb.channel_close_function = on_close;
	c->next = s->chans;
	s->chans = c;
	s->kick = true;
	*out = c;
	return 0;
}

/* A local channel's handle: listed in s->chans so sr_ssh_free frees it. */
static int chan_wrap(struct sr_ssh *s, struct srl_chan *lc, struct sr_ssh_chan **out)
{
	struct sr_ssh_chan *c = calloc(1, sizeof(*c));
	if (!c) {
		srl_chan_close(lc);
		return -ENOMEM;
	}
	c->ssh = s;
	c->local = lc;
	c->next = s->chans;
	s->chans = c;
	*out = c;
	return 0;
}

int sr_ssh_exec_start(struct sr_ssh *s, const char *cmdline, struct sr_ssh_chan **out)
{
	if (!s || !cmdline || !out)
		return -EINVAL;
	if (s->local) {
		struct srl_chan *lc = NULL;
		*out = NULL;
		int rc = srl_exec_start(s->local, cmdline, &lc);
		return rc < 0 ? rc : chan_wrap(s, lc, out);
	}
	return chan_new(s, false, cmdline, out);
}

int sr_ssh_pty_start(struct sr_ssh *s, const char *term, unsigned cols, unsigned rows, const char *cmdline,
		     const struct sr_env *env, struct sr_ssh_chan **out)
{
	if (!s || !out || !size_valid(cols, rows))
		return -EINVAL;
	size_t nenv = 0;
	for (const struct sr_env *e = env; e && e->name; e++) {
		if (!*e->name || strchr(e->name, '=') || !e->value)
			return -EINVAL;
		nenv++;
	}
	if (s->local) {
		struct srl_chan *lc = NULL;
		*out = NULL;
		int rc = srl_pty_start(s->local, term, cols, rows, cmdline, env, &lc);
		return rc < 0 ? rc : chan_wrap(s, lc, out);
	}
	struct sr_ssh_chan *c;
	int rc = chan_new(s, true, cmdline, &c);
	if (rc)
		return rc;
	c->cols = cols;
	c->rows = rows;
	c->term = xstrdup(term ? term : "xterm-256color");
	bool oom = !c->term;
	if (nenv && !oom) {
		c->env = calloc(2 * nenv, sizeof(char *));
		oom = !c->env;
		if (c->env) {
			c->nenv = nenv;
			for (size_t i = 0; i < nenv; i++) {
				c->env[2 * i] = xstrdup(env[i].name);
				c->env[2 * i + 1] = xstrdup(env[i].value);
				oom |= !c->env[2 * i] || !c->env[2 * i + 1];
			}
		}
	}
	if (oom) {
		chan_release(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

enum sr_chan_state sr_ssh_chan_state(const struct sr_ssh_chan *c)
{
	if (c->local)
		return srl_chan_state(c->local);
	switch (c->st) {
	case CH_RUNNING:
		return SR_CHAN_RUNNING;
	case CH_ENDED:
		return SR_CHAN_ENDED;
	case CH_FAILED:
		return SR_CHAN_FAILED;
	default:
		return SR_CHAN_STARTING;
	}
}

ssize_t sr_ssh_chan_read(struct sr_ssh_chan *c, void *buf, size_t n)
{
	if (c->local)
		return srl_chan_read(c->local, buf, n);
	if (!c->pty)
		return -EINVAL;
	if (buf_used(&c->in)) {
		bool was_full;
		n = buf_take(&c->in, buf, n, &was_full);
		if (was_full) /* freeing room may let libssh's backlog in */
			c->ssh->kick = true;
		return (ssize_t)n;
	}
	if (c->st == CH_FAILED)
		return c->err_code;
	if (c->remote_eof && c->st != CH_OPEN && !ssh_channel_is_eof(c->ch))
		return 0; /* libssh still holds bytes: the next step brings them */
	if (c->remote_eof || c->st == CH_ENDED)
		return -EPIPE;
	return 0;
}

int sr_ssh_chan_write(struct sr_ssh_chan *c, const void *buf, size_t n)
{
	if (c->local)
		return srl_chan_write(c->local, buf, n);
	if (c->st == CH_FAILED)
		return c->err_code;
	if (c->st == CH_ENDED || c->eof_wanted || c->write_closed || c->remote_closed)
		return -EPIPE;
	int rc = buf_queue(&c->wq, buf, n);
	if (rc || n == 0)
		return rc;
	c->ssh->kick = true;
	return 0;
}

size_t sr_ssh_chan_pending(const struct sr_ssh_chan *c)
{
	if (c->local)
		return srl_chan_pending(c->local);
	return buf_used(&c->wq);
}

int sr_ssh_chan_send_eof(struct sr_ssh_chan *c)
{
	if (c->local)
		return srl_chan_send_eof(c->local);
	if (c->st == CH_FAILED)
		return c->err_code;
	c->eof_wanted = true;
	c->ssh->kick = true;
	return 0;
}

int sr_ssh_chan_resize(struct sr_ssh_chan *c, unsigned cols, unsigned rows)
{
	if (c->local)
		return srl_chan_resize(c->local, cols, rows);
	if (!c->pty || !size_valid(cols, rows))
		return -EINVAL;
	if (c->st == CH_FAILED)
		return c->err_code;
	if (c->st == CH_ENDED)
		return -EPIPE;
	if (cols == c->cols && rows == c->rows && !c->resize_pending)
		return 0;
	c->cols = cols;
	c->rows = rows;
	/* Before the PTY exists the pty-req carries the new size. */
	if (c->st >= CH_ENV)
		c->resize_pending = true;
	c->ssh->kick = true;
	return 0;
}

int sr_ssh_chan_exit(const struct sr_ssh_chan *c, struct sr_ssh_exit *out)
{
	if (c->local)
		return srl_chan_exit(c->local, out);
	if (c->st == CH_FAILED)
		return c->err_code;
	if (c->st != CH_ENDED)
		return -EAGAIN;
	*out = c->exit;
	return 0;
}

int sr_ssh_exec_result(const struct sr_ssh_chan *c, struct sr_ssh_exec_result *out)
{
	if (c->local)
		return srl_exec_result(c->local, out);
	if (c->pty)
		return -EINVAL;
	int rc = sr_ssh_chan_exit(c, &out->exit);
	if (rc)
		return rc;
	out->out = buf_str(&c->in, &out->out_len);
	out->err = buf_str(&c->err, &out->err_len);
	out->truncated = c->truncated;
	return 0;
}

const char *sr_ssh_chan_error(const struct sr_ssh_chan *c)
{
	if (c->local)
		return srl_chan_error(c->local);
	return c->st == CH_FAILED ? c->errmsg : "";
}

void sr_ssh_chan_close(struct sr_ssh_chan *c)
{
	if (!c)
		return;
	if (c->local) {
		srl_chan_close(c->local);
		c->local = NULL;
		chan_release(c); /* the handle */
		return;
	}
	struct sr_ssh *s = c->ssh;
	/* An open request in flight has no server-side channel to close yet:
	 * step finishes it, then closes and frees. */
	if (c->st == CH_OPEN && c->open_sent && s->st == ST_READY) {
		c->detached = true;
		s->kick = true;
		return;
	}
	chan_release(c);
}
