/*
 * sr_host.h — one sandbox VM: keeps one SSH connection to it (many channels
 * share it) and re-establishes it with exponential backoff and jitter when
 * it drops or cannot be made.
 *
 * on_up runs each time the connection becomes ready (authenticated, host
 * key verified). on_down runs when a ready or connecting connection fails,
 * BEFORE its driver and sr_ssh are freed: PTY sessions on it must be freed
 * by the callee right there (their channels belong to the connection);
 * exec jobs are told by the driver (-ENOTCONN or the connection's error)
 * and need nothing. Then a reconnect is scheduled.
 *
 * Host-key and authentication failures (-EKEYREJECTED, -EACCES) are not
 * transient: they are retried at the longest backoff only, so a fixed
 * known_hosts file or key is picked up without a restart while the log is
 * not flooded.
 *
 * Ownership: the caller owns the host (sr_host_free; safe from its
 * callbacks, released when they return). Options are copied.
 * Errors: 0 or a negative errno-style code, described in err.
 */
#ifndef SR_HOST_H
#define SR_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "sr_loop.h"
#include "sr_ssh.h"
#include "sr_ssh_driver.h"

struct sr_host;

struct sr_host_opts {
	const char *target;   /* "host", "host:port", "[v6]:port" */
	struct sr_ssh_opts ssh; /* host and port are ignored (from target) */
	uint64_t backoff_min_ms; /* 0 → 1000 */
	uint64_t backoff_max_ms; /* 0 → 60000 */
	void (*on_up)(void *data, struct sr_host *h);
	void (*on_down)(void *data, struct sr_host *h, int code, const char *msg);
	void *data;
};

/* Starts connecting at once. Errors: -EINVAL (bad target; message), -ENOMEM. */
int sr_host_new(struct sr_loop *loop, const struct sr_host_opts *o, struct sr_host **out,
		char *err, size_t errlen);
void sr_host_free(struct sr_host *h);

/* The target as configured. */
const char *sr_host_name(const struct sr_host *h);

/* 1 when the connection is ready. */
int sr_host_ready(const struct sr_host *h);

/* The driver of the current connection, NULL when there is none. Valid
 * until on_down. */
struct sr_ssh_driver *sr_host_driver(const struct sr_host *h);

/* Why the last connection attempt failed, "" when it did not. */
const char *sr_host_last_error(const struct sr_host *h);

/* Connection attempts so far (for tests and status). */
unsigned sr_host_attempts(const struct sr_host *h);

/* Drops the connection as if it had failed (tests, operator command):
 * on_down runs, then a reconnect after the shortest backoff. */
void sr_host_drop(struct sr_host *h);

#endif
