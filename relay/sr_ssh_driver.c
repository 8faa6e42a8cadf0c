/* sr_ssh_driver.c — drives one sr_ssh connection on the loop and tells its
 * listeners after every step (see sr_ssh_driver.h). */
#include "sr_ssh_driver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_KEEPALIVE_MS 1000u

struct sr_ssh_driver {
	struct sr_loop *loop;
	struct sr_ssh *ssh;
	struct sr_watch *watch;
	struct sr_timer *keepalive;
	uint64_t keepalive_ms;
	sr_ssh_driver_error_cb on_error;
	void *error_data;
	bool step_queued;
	bool error_reported;
	bool dead;  /* freed from inside a callback: release when depth drops */
	int depth;  /* callbacks of this driver on the stack */
	struct sr_ssh_listener **lis; /* NULL slots while depth > 0 */
	size_t nlis, cap;
};

static void drv_release(struct sr_ssh_driver *d)
{
	free(d->lis);
	free(d);
}

static void drv_leave(struct sr_ssh_driver *d)
{
	if (--d->depth > 0)
		return;
	if (d->dead) {
		drv_release(d);
		return;
	}
	/* compact the slots emptied while notifying */
	size_t j = 0;
	for (size_t i = 0; i < d->nlis; i++)
		if (d->lis[i])
			d->lis[j++] = d->lis[i];
	d->nlis = j;
}

static void drv_step_cb(void *data);

static void drv_update(struct sr_ssh_driver *d)
{
	if (d->dead)
		return;
	unsigned w = sr_ssh_wants(d->ssh);
	unsigned ev = ((w & SR_SSH_WANT_READ) ? SR_EV_READ : 0) |
		      ((w & SR_SSH_WANT_WRITE) ? SR_EV_WRITE : 0);
	if (sr_watch_events(d->watch) != ev)
		sr_watch_set_events(d->watch, ev);
	if ((w & SR_SSH_WANT_STEP) && !d->step_queued) {
		if (sr_loop_defer(d->loop, drv_step_cb, d) == 0)
			d->step_queued = true;
	}
}

/* Tells every listener, then reports a connection failure once. Listeners
 * added during the walk are told next time (n is taken first). */
static void drv_after(struct sr_ssh_driver *d, int rc)
{
	size_t n = d->nlis;
	for (size_t i = 0; i < n && !d->dead; i++)
		if (d->lis[i])
			d->lis[i]->on_step(d->lis[i]);
	if (d->dead)
		return;
	if (rc < 0 && !d->error_reported) {
		d->error_reported = true;
		if (d->on_error)
			d->on_error(d->error_data, rc, sr_ssh_error(d->ssh));
	}
	drv_update(d);
}

static void drv_step(struct sr_ssh_driver *d)
{
	d->depth++;
	int rc = sr_ssh_step(d->ssh);
	drv_after(d, rc);
	drv_leave(d);
}

static void drv_step_cb(void *data)
{
	struct sr_ssh_driver *d = data;
	d->step_queued = false;
	drv_step(d);
}

static void drv_fd_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)fd;
	(void)revents;
	drv_step(data);
}

static void drv_keepalive_cb(struct sr_timer *t, void *data)
{
	struct sr_ssh_driver *d = data;
	sr_timer_rearm(t, d->keepalive_ms);
	d->depth++;
	int rc = sr_ssh_keepalive(d->ssh);
	if (rc < 0)
		drv_after(d, rc);
	else
		drv_update(d);
	drv_leave(d);
}

int sr_ssh_driver_new(struct sr_loop *loop, struct sr_ssh *ssh, uint64_t keepalive_ms,
		      sr_ssh_driver_error_cb on_error, void *error_data,
		      struct sr_ssh_driver **out)
{
	if (!loop || !ssh || !out)
		return -EINVAL;
	*out = NULL;
	struct sr_ssh_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->ssh = ssh;
	d->keepalive_ms = keepalive_ms ? keepalive_ms : DEFAULT_KEEPALIVE_MS;
	d->on_error = on_error;
	d->error_data = error_data;
	int rc = sr_loop_watch(loop, sr_ssh_fd(ssh), 0, drv_fd_cb, d, &d->watch);
	if (rc < 0) {
		free(d);
		return rc;
	}
	rc = sr_loop_timer(loop, d->keepalive_ms, drv_keepalive_cb, d, &d->keepalive);
	if (rc < 0) {
		sr_watch_remove(d->watch);
		free(d);
		return rc;
	}
	rc = sr_loop_defer(loop, drv_step_cb, d);
	if (rc < 0) {
		sr_timer_cancel(d->keepalive);
		sr_watch_remove(d->watch);
		free(d);
		return rc;
	}
	d->step_queued = true;
	*out = d;
	return 0;
}

void sr_ssh_driver_free(struct sr_ssh_driver *d)
{
	if (!d || d->dead)
		return;
	sr_loop_defer_cancel(d->loop, drv_step_cb, d);
	sr_timer_cancel(d->keepalive);
	sr_watch_remove(d->watch);
	d->dead = true;
	for (size_t i = 0; i < d->nlis; i++) {
		struct sr_ssh_listener *l = d->lis[i];
		if (!l)
			continue;
		d->lis[i] = NULL;
		l->drv = NULL;
		if (l->on_detach)
			l->on_detach(l);
	}
	if (d->depth == 0)
		drv_release(d);
}

void sr_ssh_driver_kick(struct sr_ssh_driver *d)
{
	if (!d || d->dead || d->step_queued)
		return;
	if (sr_loop_defer(d->loop, drv_step_cb, d) == 0)
		d->step_queued = true;
}

struct sr_ssh *sr_ssh_driver_ssh(const struct sr_ssh_driver *d)
{
	return d ? d->ssh : NULL;
}

struct sr_loop *sr_ssh_driver_loop(const struct sr_ssh_driver *d)
{
	return d ? d->loop : NULL;
}

int sr_ssh_driver_dead(const struct sr_ssh_driver *d)
{
	return !d || d->dead;
}

int sr_ssh_driver_listen(struct sr_ssh_driver *d, struct sr_ssh_listener *l)
{
	if (!d || d->dead || !l || !l->on_step || l->drv)
		return -EINVAL;
	if (d->nlis == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct sr_ssh_listener **n = realloc(d->lis, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->lis = n;
		d->cap = cap;
	}
	d->lis[d->nlis++] = l;
	l->drv = d;
	return 0;
}

void sr_ssh_driver_unlisten(struct sr_ssh_listener *l)
{
	if (!l || !l->drv)
		return;
	struct sr_ssh_driver *d = l->drv;
	l->drv = NULL;
	for (size_t i = 0; i < d->nlis; i++) {
		if (d->lis[i] != l)
			continue;
		if (d->depth > 0) {
			d->lis[i] = NULL;
		} else {
			memmove(&d->lis[i], &d->lis[i + 1], (d->nlis - i - 1) * sizeof(*d->lis));
			d->nlis--;
		}
		return;
	}
}
