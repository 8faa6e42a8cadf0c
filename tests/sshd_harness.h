/*
 * sshd_harness.h — a real OpenSSH sshd on 127.0.0.1 for the tests.
 *
 * sshd_start makes a private temp dir with fresh ed25519 keys (host key, an
 * authorised user key, a second user key that is NOT authorised, a second
 * host key used for a "wrong" known_hosts), writes an sshd_config and runs
 * `/usr/sbin/sshd -D -f CONFIG -E LOG` as a child on a free port, logging in
 * as the current user (root in CI; any user works). It returns once the port
 * accepts connections. sshd dies with the test process (PR_SET_PDEATHSIG) so
 * a crashed test leaves no daemon behind, and the test process becomes a
 * child subreaper so commands orphaned by a closed connection are still
 * found and killed by sshd_stop. Sessions run with SHLVL=1 (sshd SetEnv) so
 * bash does not read the user's ~/.bashrc: the tests neither depend on nor
 * disturb the invoking user's dotfiles.
 *
 * Ownership: the caller owns the struct; sshd_stop kills sshd and every
 * process below it, removes the temp dir and frees user_key_data.
 * Errors: 0 or a negative errno code with a message in d->err;
 * -ENOENT when /usr/sbin/sshd or ssh-keygen is missing (tests skip then).
 */
#ifndef SSHD_HARNESS_H
#define SSHD_HARNESS_H

#include <limits.h>
#include <sys/types.h>

#include "sr_ssh.h"

#define SSHD_BIN "/usr/sbin/sshd"

struct sshd {
	pid_t pid;                      /* the listening sshd */
	unsigned port;
	char user[64];                  /* who the tests log in as */
	char dir[256];                  /* temp dir holding everything below */
	char log[PATH_MAX];             /* sshd -E log */
	char host_pubkey[PATH_MAX];     /* the server's ed25519 public key */
	char host_fp[128];              /* its fingerprint, "SHA256:..." (ssh-keygen -l) */
	char wrong_fp[128];             /* fingerprint of the key in wrong_known_hosts */
	char known_hosts[PATH_MAX];     /* "[127.0.0.1]:PORT ssh-ed25519 ..." */
	char wrong_known_hosts[PATH_MAX]; /* another key for the same host */
	char user_key[PATH_MAX];        /* authorised private key (OpenSSH format) */
	char *user_key_data;            /* its contents, malloc'ed */
	char other_key[PATH_MAX];       /* a private key sshd does not accept */
	char err[1024];
};

/* Client options for this server: loopback, its port, the test user with
 * the authorised key, its known_hosts, strict host-key policy. The strings
 * point into d. */
struct sr_ssh_opts sshd_client_opts(const struct sshd *d);

/* True when the sshd binary and ssh-keygen are installed. */
int sshd_available(void);

int sshd_start(struct sshd *out);

/* Kills sshd and every process below it or below the calling process (see
 * above: meant for a test process that starts nothing else), removes the
 * temp dir. Idempotent; safe on a zeroed or half-started struct. */
void sshd_stop(struct sshd *d);

/* Sends sig to every process below the listener (the per-connection sshd
 * processes and the commands they run); the listener keeps accepting.
 * Returns how many processes were signalled, or a negative errno code. */
int sshd_signal_connections(struct sshd *d, int sig);

/* SIGKILL to every connection: the client sees the TCP connection close. */
int sshd_kill_connections(struct sshd *d);

/* Joins dir and name into buf (for files the test creates next to sshd's). */
const char *sshd_path(const struct sshd *d, const char *name, char *buf, size_t len);

#endif
