/* sr_host.c — one VM connection with reconnect and backoff (see sr_host.h). */
#include "sr_host.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sr_log.h"

struct sr_host {
	struct sr_ssh_listener lis; /* first: watches for "ready" */
	struct sr_loop *loop;
	struct sr_host_opts o;
	char *target, *host, *user, *key_path, *key_data, *key_pass, *known_hosts;
	unsigned port;
	struct sr_ssh *ssh;
	struct sr_ssh_driver *drv;
	struct sr_timer *retry;
	bool ready;
	bool teardown_queued;
	bool dead;
	int depth;
	unsigned failures; /* consecutive, for the backoff */
	unsigned attempts;
	char last_error[512];
};

static void host_connect(struct sr_host *h);

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	volatile char *p = s;
	while (*p)
		*p++ = 0;
	free(s);
}

static void host_release(struct sr_host *h)
{
	free(h->target);
	free(h->host);
	free(h->user);
	free(h->key_path);
	wipe_free(h->key_data);
	wipe_free(h->key_pass);
	free(h->known_hosts);
	free(h);
}

/* Frees the connection (driver first: it detaches exec jobs and sessions). */
static void close_conn(struct sr_host *h)
{
	sr_ssh_driver_unlisten(&h->lis);
	sr_ssh_driver_free(h->drv);
	h->drv = NULL;
	sr_ssh_free(h->ssh);
	h->ssh = NULL;
	h->ready = false;
}

static uint64_t backoff_ms(struct sr_host *h, bool permanent)
{
	uint64_t lo = h->o.backoff_min_ms, hi = h->o.backoff_max_ms;
	uint64_t d = lo;
	if (permanent) {
		d = hi;
	} else {
		for (unsigned i = 1; i < h->failures && d < hi; i++)
			d *= 2;
		if (d > hi)
			d = hi;
	}
	/* ±20% jitter so hosts (and relays) do not retry in lockstep */
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)(uintptr_t)h ^ (uint32_t)h->attempts;
	uint64_t span = d / 5;
	return d - span + (span ? (uint64_t)r % (2 * span + 1) : 0);
}

static void retry_cb(struct sr_timer *t, void *data)
{
	(void)t;
	host_connect(data);
}

static void schedule_retry(struct sr_host *h, int code)
{
	h->failures++;
	bool permanent = code == -EKEYREJECTED || code == -EACCES;
	uint64_t d = backoff_ms(h, permanent);
	sr_log(SR_LOG_INFO, "host %s: reconnecting in %.1f s", h->target, (double)d / 1000.0);
	if (h->retry)
		sr_timer_rearm(h->retry, d);
	else
		sr_loop_timer(h->loop, d, retry_cb, h, &h->retry);
}

/* The connection failed: tell the owner while it still exists, free it,
 * and try again later. Runs deferred, outside the driver's callbacks. */
static void teardown_cb(void *data)
{
	struct sr_host *h = data;
	h->teardown_queued = false;
	if (!h->ssh)
		return;
	int code = sr_ssh_status(h->ssh);
	if (code >= 0)
		code = -ECONNRESET;
	const char *m = sr_ssh_error(h->ssh);
	snprintf(h->last_error, sizeof(h->last_error), "%s", m && *m ? m : strerror(-code));
	bool was_ready = h->ready;
	h->ready = false;
	sr_log(was_ready ? SR_LOG_WARN : SR_LOG_ERROR, "host %s: %s", h->target, h->last_error);
	h->depth++;
	if (h->o.on_down)
		h->o.on_down(h->o.data, h, code, h->last_error);
	h->depth--;
	if (h->dead) {
		if (h->depth == 0) {
			close_conn(h);
			host_release(h);
		}
		return;
	}
	close_conn(h);
	schedule_retry(h, code);
}

static void queue_teardown(struct sr_host *h)
{
	if (h->teardown_queued)
		return;
	if (sr_loop_defer(h->loop, teardown_cb, h) == 0)
		h->teardown_queued = true;
}

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)code;
	(void)msg;
	queue_teardown(data);
}

static void on_step(struct sr_ssh_listener *l)
{
	struct sr_host *h = (struct sr_host *)l;
	if (h->ready || !h->ssh)
		return;
	if (sr_ssh_status(h->ssh) != 1)
		return;
	h->ready = true;
	h->failures = 0;
	h->last_error[0] = '\0';
	sr_log(SR_LOG_INFO, "host %s: connected (%s)", h->target, sr_ssh_host_fingerprint(h->ssh));
	h->depth++;
	if (h->o.on_up)
		h->o.on_up(h->o.data, h);
	h->depth--;
	if (h->dead && h->depth == 0) {
		sr_loop_defer_cancel(h->loop, teardown_cb, h);
		close_conn(h);
		host_release(h);
	}
}

static void host_connect(struct sr_host *h)
{
	struct sr_ssh_opts so = h->o.ssh;
	so.host = h->host;
	so.port = h->port;
	so.user = h->user;
	so.key_path = h->key_path;
	so.key_data = h->key_data;
	so.key_passphrase = h->key_pass;
	so.known_hosts_path = h->known_hosts;
	h->attempts++;
	char err[512];
	int rc = sr_ssh_connect(&so, &h->ssh, err, sizeof(err));
	if (rc == 0)
		rc = sr_ssh_driver_new(h->loop, h->ssh, 1000, on_drv_error, h, &h->drv);
	if (rc == 0)
		rc = sr_ssh_driver_listen(h->drv, &h->lis);
	if (rc < 0) {
		if (h->ssh) {
			sr_ssh_driver_free(h->drv);
			h->drv = NULL;
			sr_ssh_free(h->ssh);
			h->ssh = NULL;
		}
		if (rc != -ENOMEM && !err[0])
			snprintf(err, sizeof(err), "%s", strerror(-rc));
		snprintf(h->last_error, sizeof(h->last_error), "%s", err);
		sr_log(SR_LOG_ERROR, "host %s: %s", h->target, err);
		schedule_retry(h, rc);
	}
}

int sr_host_new(struct sr_loop *loop, const struct sr_host_opts *o, struct sr_host **out,
		char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!loop || !o || !o->target || !out) {
		snprintf(err, errlen, "host: missing options");
		return -EINVAL;
	}
	*out = NULL;
	struct sr_host *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->o = *o;
	if (!h->o.backoff_min_ms)
		h->o.backoff_min_ms = 1000;
	if (!h->o.backoff_max_ms)
		h->o.backoff_max_ms = 60000;
	if (h->o.backoff_max_ms < h->o.backoff_min_ms)
		h->o.backoff_max_ms = h->o.backoff_min_ms;
	h->lis.on_step = on_step;
	int rc = sr_ssh_parse_target(o->target, &h->host, &h->port, err, errlen);
	if (rc < 0) {
		free(h);
		return rc;
	}
	h->target = strdup(o->target);
	h->user = dup_or_null(o->ssh.user);
	h->key_path = dup_or_null(o->ssh.key_path);
	h->key_data = dup_or_null(o->ssh.key_data);
	h->key_pass = dup_or_null(o->ssh.key_passphrase);
	h->known_hosts = dup_or_null(o->ssh.known_hosts_path);
	if (!h->target || (o->ssh.user && !h->user) || (o->ssh.key_path && !h->key_path) ||
	    (o->ssh.key_data && !h->key_data) || (o->ssh.key_passphrase && !h->key_pass) ||
	    (o->ssh.known_hosts_path && !h->known_hosts)) {
		host_release(h);
		return -ENOMEM;
	}
	/* Pointers into h->o must not outlive the caller's strings. */
	h->o.target = h->target;
	h->o.ssh = (struct sr_ssh_opts){
		.policy = o->ssh.policy,
		.keepalive_s = o->ssh.keepalive_s,
		.keepalive_max = o->ssh.keepalive_max,
		.connect_timeout_s = o->ssh.connect_timeout_s,
	};
	host_connect(h);
	*out = h;
	return 0;
}

void sr_host_free(struct sr_host *h)
{
	if (!h || h->dead)
		return;
	h->dead = true;
	if (h->retry) {
		sr_timer_cancel(h->retry);
		h->retry = NULL;
	}
	if (h->depth > 0)
		return; /* released when the callback returns */
	sr_loop_defer_cancel(h->loop, teardown_cb, h);
	close_conn(h);
	host_release(h);
}

const char *sr_host_name(const struct sr_host *h)
{
	return h->target;
}

int sr_host_ready(const struct sr_host *h)
{
	/* a connection that just failed is not ready, even before its
	 * deferred teardown ran */
	return h && h->ready && h->ssh && sr_ssh_status(h->ssh) >= 0;
}

struct sr_ssh_driver *sr_host_driver(const struct sr_host *h)
{
	return h ? h->drv : NULL;
}

const char *sr_host_last_error(const struct sr_host *h)
{
	return h->last_error;
}

unsigned sr_host_attempts(const struct sr_host *h)
{
	return h->attempts;
}

void sr_host_drop(struct sr_host *h)
{
	if (!h || !h->ssh)
		return;
	h->failures = 0;
	queue_teardown(h);
}
