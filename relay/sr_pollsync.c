/* sr_pollsync.c — pollable objects on the loop (see sr_pollsync.h). */
#include "sr_pollsync.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FDS 256

struct pw {
	int fd;
	unsigned events;
	struct sr_watch *w;
};

struct sr_pollsync {
	struct sr_loop *loop;
	sr_poll_fn poll;
	sr_step_fn step;
	void *obj;
	struct pw *w;
	size_t nw;
	struct sr_timer *timer;
	bool queued;
	bool in_step;
};

static void sync_now(struct sr_pollsync *p);

static void run_step(struct sr_pollsync *p)
{
	p->in_step = true;
	p->step(p->obj);
	p->in_step = false;
	sync_now(p);
}

static void fd_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)fd;
	(void)revents;
	run_step(data);
}

static void timer_cb(struct sr_timer *t, void *data)
{
	(void)t;
	run_step(data);
}

static void defer_cb(void *data)
{
	struct sr_pollsync *p = data;
	p->queued = false;
	sync_now(p);
}

static unsigned to_ev(short e)
{
	return ((e & POLLIN) ? SR_EV_READ : 0) | ((e & POLLOUT) ? SR_EV_WRITE : 0);
}

static void sync_now(struct sr_pollsync *p)
{
	struct pollfd fds[MAX_FDS];
	uint64_t deadline = UINT64_MAX;
	size_t n = p->poll(p->obj, fds, MAX_FDS, &deadline);
	if (n > MAX_FDS)
		n = MAX_FDS;
	/* drop watchers whose fd is gone; update the others */
	for (size_t i = 0; i < p->nw;) {
		size_t j = 0;
		while (j < n && fds[j].fd != p->w[i].fd)
			j++;
		if (j == n) {
			sr_watch_remove(p->w[i].w);
			p->w[i] = p->w[--p->nw];
			continue;
		}
		unsigned ev = to_ev(fds[j].events);
		if (ev != p->w[i].events) {
			sr_watch_set_events(p->w[i].w, ev);
			p->w[i].events = ev;
		}
		i++;
	}
	/* add watchers for new fds */
	for (size_t j = 0; j < n; j++) {
		size_t i = 0;
		while (i < p->nw && p->w[i].fd != fds[j].fd)
			i++;
		if (i < p->nw || fds[j].fd < 0)
			continue;
		struct pw *nw = realloc(p->w, (p->nw + 1) * sizeof(*nw));
		if (!nw)
			break;
		p->w = nw;
		struct pw *x = &p->w[p->nw];
		x->fd = fds[j].fd;
		x->events = to_ev(fds[j].events);
		if (sr_loop_watch(p->loop, x->fd, x->events, fd_cb, p, &x->w) == 0)
			p->nw++;
	}
	/* one timer at the deadline */
	if (deadline == UINT64_MAX) {
		if (p->timer && sr_timer_armed(p->timer))
			sr_timer_cancel(p->timer), p->timer = NULL;
		return;
	}
	uint64_t now = sr_loop_now(p->loop);
	uint64_t delay = deadline > now ? deadline - now : 0;
	if (p->timer)
		sr_timer_rearm(p->timer, delay);
	else
		sr_loop_timer(p->loop, delay, timer_cb, p, &p->timer);
}

int sr_pollsync_new(struct sr_loop *loop, sr_poll_fn poll, sr_step_fn step, void *obj,
		    struct sr_pollsync **out)
{
	if (!loop || !poll || !step || !out)
		return -EINVAL;
	struct sr_pollsync *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->poll = poll;
	p->step = step;
	p->obj = obj;
	*out = p;
	sync_now(p);
	return 0;
}

void sr_pollsync_update(struct sr_pollsync *p)
{
	if (!p || p->queued || p->in_step)
		return;
	if (sr_loop_defer(p->loop, defer_cb, p) == 0)
		p->queued = true;
}

void sr_pollsync_free(struct sr_pollsync *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nw; i++)
		sr_watch_remove(p->w[i].w);
	free(p->w);
	if (p->timer)
		sr_timer_cancel(p->timer);
	sr_loop_defer_cancel(p->loop, defer_cb, p);
	free(p);
}
