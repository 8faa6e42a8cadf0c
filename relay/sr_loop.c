/*
 * sr_loop.c — the event loop: poll(2), a timer min-heap, a deferred-call
 * queue and a signal self-pipe.
 *
 * Why poll and not epoll: the relay watches hundreds of fds at most (a few
 * per session), where poll's O(n) scan costs microseconds. In exchange, the
 * interest set is our own array: changing a watcher's events (curl and
 * libwebsockets toggle write interest all the time) is a memory write, not a
 * syscall; there is no kernel-side registration that can go stale when an
 * fd is closed, dup'ed or inherited by a child (epoll tracks open file
 * descriptions, not fd numbers); any fd works, and two watchers on one fd
 * are simply two entries. The API hides the choice, so epoll can replace it
 * without touching callers if the fd count ever grows.
 *
 * Why removal during dispatch is safe: pfds[i] is polled for pw[i]; removing
 * a watcher only marks it dead and sets its pfd to -1, and cancelling a timer
 * unlinks it from the heap and parks it on a dead list. Memory is released
 * by sweep(), which runs only between phases, when no callback is on the
 * stack and nobody iterates the arrays; slots therefore never move while
 * dispatch walks them. Dispatch checks the dead flag and the current
 * interest right before each call.
 */
#include "sr_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SR_EV_IO (SR_EV_READ | SR_EV_WRITE)
#define SR_NOT_ARMED SIZE_MAX
#define SR_NSIG 65 /* signals 1..64 (Linux) */

struct sr_watch {
	struct sr_loop *loop;
	int fd;
	unsigned events; /* current interest; 0 = paused */
	sr_fd_cb cb;
	void *data;
	size_t idx; /* slot in loop->pfds and loop->pw */
	bool dead;
};

struct sr_timer {
	struct sr_loop *loop;
	uint64_t deadline, seq; /* heap order: deadline, then arming order */
	size_t heap_idx;        /* SR_NOT_ARMED when not in the heap */
	sr_timer_cb cb;
	void *data;
	bool loop_owned; /* fire-and-forget: released after firing */
	bool dead;
	struct sr_timer *prev, *next; /* loop->timers (live) or loop->dead_timers */
};

struct sr_defer {
	sr_defer_cb cb; /* NULL once run or cancelled */
	void *data;
};

struct sr_defer_q {
	struct sr_defer *v;
	size_t n, cap;
};

struct sr_sig {
	sr_signal_cb cb;
	void *data;
	struct sigaction old;
	bool installed;
};

struct sr_loop {
	uint64_t now;
	bool running, stop;
	size_t ran; /* user callbacks run in this iteration */

	struct pollfd *pfds;
	struct sr_watch **pw;
	size_t nw, capw;  /* slots, dead ones included until the sweep */
	size_t ndead_w;   /* dead slots awaiting the sweep */
	size_t nactive;   /* live, unpaused watchers (the signal pipe's too) */

	struct sr_timer **heap;
	size_t nheap, capheap;
	uint64_t seq;
	struct sr_timer *timers, *dead_timers;

	struct sr_defer_q defers, running_defers;

	int sig_pipe[2];
	struct sr_watch *sig_watch;
	struct sr_sig sigs[SR_NSIG];
	size_t nsigs;
};

/* The handler has no context: one loop per process owns signal handling. */
static volatile sig_atomic_t sr_sig_wfd = -1;
static volatile sig_atomic_t sr_sig_pending[SR_NSIG];
static struct sr_loop *sr_sig_owner;

static uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- fd watchers ---------------------------------------------------- */

static short to_poll(unsigned events)
{
	return (short)(((events & SR_EV_READ) ? POLLIN : 0) |
		       ((events & SR_EV_WRITE) ? POLLOUT : 0));
}

static unsigned from_poll(short re)
{
	return ((re & POLLIN) ? SR_EV_READ : 0u) | ((re & POLLOUT) ? SR_EV_WRITE : 0u) |
	       ((re & (POLLERR | POLLNVAL)) ? SR_EV_ERROR : 0u) | ((re & POLLHUP) ? SR_EV_HUP : 0u);
}

/* Read at each add (rare, and the limit can change at run time). */
static size_t watch_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > INT_MAX)
		return INT_MAX;
	return (size_t)rl.rlim_cur;
}

static int grow_watch_arrays(struct sr_loop *loop)
{
	if (loop->nw < loop->capw)
		return 0;
	size_t cap = loop->capw ? loop->capw * 2 : 16;
	struct pollfd *p = realloc(loop->pfds, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	loop->pfds = p; /* larger is harmless if the next realloc fails */
	struct sr_watch **w = realloc(loop->pw, cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	loop->pw = w;
	loop->capw = cap;
	return 0;
}

int sr_loop_watch(struct sr_loop *loop, int fd, unsigned events, sr_fd_cb cb, void *data,
		  struct sr_watch **out)
{
	if (!loop || !cb || (events & ~SR_EV_IO))
		return -EINVAL;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	/* poll rejects more entries than RLIMIT_NOFILE. Dead slots are swept
	 * before the next poll, so count live ones. */
	size_t live = loop->nw - loop->ndead_w;
	if (live >= watch_limit())
		return -EMFILE;
	int rc = grow_watch_arrays(loop);
	if (rc)
		return rc;
	struct sr_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct sr_watch){
		.loop = loop, .fd = fd, .events = events, .cb = cb, .data = data, .idx = loop->nw};
	/* revents 0: a watcher added during dispatch is first polled next time. */
	loop->pfds[w->idx] = (struct pollfd){.fd = events ? fd : -1, .events = to_poll(events)};
	loop->pw[w->idx] = w;
	loop->nw++;
	if (events)
		loop->nactive++;
	if (out)
		*out = w;
	return 0;
}

int sr_watch_set_events(struct sr_watch *w, unsigned events)
{
	if (!w || w->dead || (events & ~SR_EV_IO))
		return -EINVAL;
	struct sr_loop *loop = w->loop;
	if (w->events && !events)
		loop->nactive--;
	else if (!w->events && events)
		loop->nactive++;
	w->events = events;
	/* fd -1: poll skips the slot, so a paused watcher sees no HUP either. */
	loop->pfds[w->idx].fd = events ? w->fd : -1;
	loop->pfds[w->idx].events = to_poll(events);
	return 0;
}

unsigned sr_watch_events(const struct sr_watch *w)
{
	return w ? w->events : 0;
}

void sr_watch_remove(struct sr_watch *w)
{
	if (!w || w->dead)
		return;
	sr_watch_set_events(w, 0);
	w->dead = true;
	w->loop->ndead_w++;
}

/* Calls the watchers whose fds poll reported, in slot order, skipping ones
 * removed or no longer interested since poll returned. */
static void dispatch_fds(struct sr_loop *loop, size_t npolled)
{
	for (size_t i = 0; i < npolled; i++) {
		short re = loop->pfds[i].revents;
		if (!re)
			continue;
		loop->pfds[i].revents = 0;
		struct sr_watch *w = loop->pw[i];
		if (w->dead || !w->events)
			continue;
		unsigned ev = from_poll(re) & (w->events | SR_EV_ERROR | SR_EV_HUP);
		/* A closed fd would report POLLNVAL forever: report it once. */
		if (re & POLLNVAL)
			sr_watch_set_events(w, 0);
		if (ev) {
			if (w != loop->sig_watch)
				loop->ran++;
			w->cb(w, w->fd, ev, w->data);
		}
	}
}

/* ---- timers: binary min-heap ordered by (deadline, seq) -------------- */

static bool timer_before(const struct sr_timer *a, const struct sr_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_put(struct sr_loop *loop, size_t i, struct sr_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void sift_up(struct sr_loop *loop, size_t i)
{
	struct sr_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_put(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_put(loop, i, t);
}

static void sift_down(struct sr_loop *loop, size_t i)
{
	struct sr_timer *t = loop->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap && timer_before(loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!timer_before(loop->heap[c], t))
			break;
		heap_put(loop, i, loop->heap[c]);
		i = c;
	}
	heap_put(loop, i, t);
}

static void heap_remove(struct sr_loop *loop, struct sr_timer *t)
{
	size_t i = t->heap_idx;
	struct sr_timer *last = loop->heap[--loop->nheap];
	t->heap_idx = SR_NOT_ARMED;
	if (last == t)
		return;
	heap_put(loop, i, last);
	if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

static int heap_push(struct sr_loop *loop, struct sr_timer *t)
{
	if (loop->nheap == loop->capheap) {
		size_t cap = loop->capheap ? loop->capheap * 2 : 16;
		struct sr_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		loop->heap = h;
		loop->capheap = cap;
	}
	heap_put(loop, loop->nheap++, t);
	sift_up(loop, t->heap_idx);
	return 0;
}

static void timer_unlink(struct sr_timer **head, struct sr_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		*head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

static void timer_link(struct sr_timer **head, struct sr_timer *t)
{
	t->prev = NULL;
	t->next = *head;
	if (*head)
		(*head)->prev = t;
	*head = t;
}

int sr_timer_rearm(struct sr_timer *t, uint64_t delay_ms)
{
	if (!t || t->dead)
		return -EINVAL;
	struct sr_loop *loop = t->loop;
	if (t->heap_idx != SR_NOT_ARMED)
		heap_remove(loop, t); /* frees a heap slot: the push below cannot fail */
	uint64_t now = clock_ms();
	t->deadline = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
	t->seq = loop->seq++;
	return heap_push(loop, t);
}

int sr_loop_timer(struct sr_loop *loop, uint64_t delay_ms, sr_timer_cb cb, void *data,
		  struct sr_timer **out)
{
	if (!loop || !cb)
		return -EINVAL;
	struct sr_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct sr_timer){
		.loop = loop, .heap_idx = SR_NOT_ARMED, .cb = cb, .data = data, .loop_owned = !out};
	int rc = sr_timer_rearm(t, delay_ms);
	if (rc) {
		free(t);
		return rc;
	}
	timer_link(&loop->timers, t);
	if (out)
		*out = t;
	return 0;
}

void sr_timer_cancel(struct sr_timer *t)
{
	if (!t || t->dead)
		return;
	struct sr_loop *loop = t->loop;
	if (t->heap_idx != SR_NOT_ARMED)
		heap_remove(loop, t);
	t->dead = true;
	timer_unlink(&loop->timers, t);
	timer_link(&loop->dead_timers, t); /* freed by sweep(): may be on the stack */
}

bool sr_timer_armed(const struct sr_timer *t)
{
	return t && !t->dead && t->heap_idx != SR_NOT_ARMED;
}

/* Runs the due timers. Only timers armed before this pass are eligible, so
 * one that re-arms itself with 0 ms waits for the next iteration. Stopping
 * at the first ineligible top is exact: every later-armed timer has a
 * deadline >= loop->now (armed from a fresher clock), so any timer ordered
 * after it is either not due or was armed later too. */
static void run_timers(struct sr_loop *loop)
{
	uint64_t limit = loop->seq;
	while (loop->nheap) {
		struct sr_timer *t = loop->heap[0];
		if (t->deadline > loop->now || t->seq >= limit)
			break;
		heap_remove(loop, t);
		loop->ran++;
		t->cb(t, t->data);
		if (t->loop_owned && !t->dead && t->heap_idx == SR_NOT_ARMED)
			sr_timer_cancel(t);
	}
}

/* ---- deferred calls --------------------------------------------------- */

int sr_loop_defer(struct sr_loop *loop, sr_defer_cb cb, void *data)
{
	if (!loop || !cb)
		return -EINVAL;
	struct sr_defer_q *q = &loop->defers;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct sr_defer *v = realloc(q->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (struct sr_defer){cb, data};
	return 0;
}

int sr_loop_defer_cancel(struct sr_loop *loop, sr_defer_cb cb, void *data)
{
	if (!loop)
		return 0;
	int dropped = 0;
	/* The batch being run: entries already run have cb NULL. */
	struct sr_defer_q *r = &loop->running_defers;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].cb && r->v[i].cb == cb && r->v[i].data == data) {
			r->v[i].cb = NULL;
			dropped++;
		}
	}
	struct sr_defer_q *q = &loop->defers;
	size_t j = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i].cb == cb && q->v[i].data == data)
			dropped++;
		else
			q->v[j++] = q->v[i];
	}
	q->n = j;
	return dropped;
}

/* Runs the calls queued so far; calls they queue go to the next batch. */
static void run_defers(struct sr_loop *loop)
{
	struct sr_defer_q batch = loop->defers;
	loop->defers = loop->running_defers; /* empty, keeps its buffer */
	loop->running_defers = batch;
	struct sr_defer_q *r = &loop->running_defers;
	for (size_t i = 0; i < r->n; i++) {
		struct sr_defer d = r->v[i];
		r->v[i].cb = NULL;
		if (d.cb) {
			loop->ran++;
			d.cb(d.data);
		}
	}
	r->n = 0;
}

/* ---- signals: self-pipe ----------------------------------------------- */

static void sig_handler(int signo)
{
	int saved = errno;
	if (signo > 0 && signo < SR_NSIG)
		sr_sig_pending[signo] = 1;
	/* The byte only wakes poll; the flags carry which signals, so a full
	 * pipe loses nothing. */
	if (sr_sig_wfd >= 0) {
		ssize_t r = write(sr_sig_wfd, "", 1);
		(void)r;
	}
	errno = saved;
}

static void sig_on_readable(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)revents;
	struct sr_loop *loop = data;
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	for (int s = 1; s < SR_NSIG; s++) {
		/* Cleared before the call: an arrival after this point makes
		 * another call; one before it is seen by this one. */
		if (!sr_sig_pending[s])
			continue;
		sr_sig_pending[s] = 0;
		if (loop->sigs[s].cb) {
			loop->ran++;
			loop->sigs[s].cb(s, loop->sigs[s].data);
		}
	}
}

static int set_fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int sig_setup(struct sr_loop *loop)
{
	if (sr_sig_owner && sr_sig_owner != loop)
		return -EBUSY;
	if (loop->sig_watch)
		return 0;
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	int rc = set_fd_flags(p[0]);
	if (!rc)
		rc = set_fd_flags(p[1]);
	if (!rc)
		rc = sr_loop_watch(loop, p[0], SR_EV_READ, sig_on_readable, loop, &loop->sig_watch);
	if (rc) {
		close(p[0]);
		close(p[1]);
		return rc;
	}
	loop->sig_pipe[0] = p[0];
	loop->sig_pipe[1] = p[1];
	sr_sig_owner = loop;
	sr_sig_wfd = p[1];
	return 0;
}

/* Closes the self-pipe and gives up signal ownership once no signal is
 * handled (safe from a signal callback: the watcher's memory outlives it). */
static void sig_teardown(struct sr_loop *loop)
{
	if (!loop->sig_watch || loop->nsigs)
		return;
	sr_sig_wfd = -1;
	sr_sig_owner = NULL;
	sr_watch_remove(loop->sig_watch);
	loop->sig_watch = NULL;
	close(loop->sig_pipe[0]);
	close(loop->sig_pipe[1]);
	loop->sig_pipe[0] = loop->sig_pipe[1] = -1;
}

static void sig_uninstall(struct sr_loop *loop, int signo)
{
	struct sr_sig *s = &loop->sigs[signo];
	if (s->installed) {
		sigaction(signo, &s->old, NULL);
		s->installed = false;
		loop->nsigs--;
		sr_sig_pending[signo] = 0;
	}
	s->cb = NULL;
	s->data = NULL;
}

int sr_loop_signal(struct sr_loop *loop, int signo, sr_signal_cb cb, void *data)
{
	if (!loop || signo < 1 || signo >= SR_NSIG)
		return -EINVAL;
	if (!cb) {
		sig_uninstall(loop, signo);
		sig_teardown(loop);
		return 0;
	}
	int rc = sig_setup(loop);
	if (rc)
		return rc;
	struct sr_sig *s = &loop->sigs[signo];
	if (!s->installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = sig_handler;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART; /* other syscalls resume; poll never does */
		if (sigaction(signo, &sa, &s->old) < 0) {
			rc = -errno; /* SIGKILL, SIGSTOP, glibc's internal ones */
			sig_teardown(loop);
			return rc;
		}
		s->installed = true;
		loop->nsigs++;
	}
	s->cb = cb;
	s->data = data;
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

int sr_loop_new(struct sr_loop **out)
{
	if (!out)
		return -EINVAL;
	struct sr_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->sig_pipe[0] = loop->sig_pipe[1] = -1;
	loop->now = clock_ms();
	*out = loop;
	return 0;
}

/* Releases removed watchers and cancelled timers; never called while a
 * callback runs, so nothing on the stack still points at them. */
static void sweep(struct sr_loop *loop)
{
	while (loop->dead_timers) {
		struct sr_timer *t = loop->dead_timers;
		loop->dead_timers = t->next;
		free(t);
	}
	if (!loop->ndead_w)
		return;
	size_t j = 0;
	for (size_t i = 0; i < loop->nw; i++) {
		struct sr_watch *w = loop->pw[i];
		if (w->dead) {
			free(w);
			continue;
		}
		loop->pw[j] = w;
		loop->pfds[j] = loop->pfds[i];
		w->idx = j++;
	}
	loop->nw = j;
	loop->ndead_w = 0;
}

void sr_loop_free(struct sr_loop *loop)
{
	if (!loop)
		return;
	for (int s = 1; s < SR_NSIG; s++)
		sig_uninstall(loop, s);
	sig_teardown(loop);
	for (size_t i = 0; i < loop->nw; i++)
		free(loop->pw[i]);
	loop->nw = loop->ndead_w = 0;
	while (loop->timers)
		sr_timer_cancel(loop->timers);
	sweep(loop);
	free(loop->pfds);
	free(loop->pw);
	free(loop->heap);
	free(loop->defers.v);
	free(loop->running_defers.v);
	free(loop);
}

uint64_t sr_loop_now(const struct sr_loop *loop)
{
	return loop ? loop->now : 0;
}

void sr_loop_stop(struct sr_loop *loop)
{
	if (loop)
		loop->stop = true;
}

/* Whether anything could ever end a blocking poll. */
static bool loop_alive(const struct sr_loop *loop)
{
	size_t internal = loop->sig_watch && loop->sig_watch->events ? 1 : 0;
	return loop->nactive > internal || loop->nheap || loop->defers.n || loop->nsigs;
}

static int poll_timeout(const struct sr_loop *loop, int timeout_ms)
{
	if (loop->defers.n || loop->stop || (timeout_ms < 0 && !loop_alive(loop)))
		return 0;
	if (!loop->nheap)
		return timeout_ms;
	uint64_t due = loop->heap[0]->deadline;
	uint64_t left = due > loop->now ? due - loop->now : 0;
	if (left > INT_MAX)
		left = INT_MAX;
	return timeout_ms >= 0 && (uint64_t)timeout_ms < left ? timeout_ms : (int)left;
}

/* Polls; after EINTR (a signal handler ran) it polls again with what is left
 * of the timeout, so a signal neither ends the wait early nor extends it. */
static int poll_wait(struct sr_loop *loop, int timeout_ms)
{
	uint64_t start = loop->now;
	for (;;) {
		int n = poll(loop->pfds, (nfds_t)loop->nw, poll_timeout(loop, timeout_ms));
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
		loop->now = clock_ms();
		if (timeout_ms > 0) {
			uint64_t spent = loop->now - start;
			timeout_ms = spent >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent;
			start = loop->now;
		}
	}
}

static int iterate(struct sr_loop *loop, int timeout_ms)
{
	loop->ran = 0;
	loop->now = clock_ms();
	run_defers(loop);
	sweep(loop);
	size_t npolled = loop->nw;
	int n = poll_wait(loop, timeout_ms);
	if (n < 0)
		return n;
	loop->now = clock_ms();
	if (n > 0)
		dispatch_fds(loop, npolled);
	run_timers(loop);
	sweep(loop);
	return loop->ran > INT_MAX ? INT_MAX : (int)loop->ran;
}

int sr_loop_run_once(struct sr_loop *loop, int timeout_ms)
{
	if (!loop)
		return -EINVAL;
	if (loop->running)
		return -EBUSY;
	loop->running = true;
	int rc = iterate(loop, timeout_ms);
	loop->stop = false;
	loop->running = false;
	return rc;
}

int sr_loop_run(struct sr_loop *loop)
{
	if (!loop)
		return -EINVAL;
	if (loop->running)
		return -EBUSY;
	loop->running = true;
	int rc = 0;
	while (!loop->stop && loop_alive(loop)) {
		rc = iterate(loop, -1);
		if (rc < 0)
			break;
		rc = 0;
	}
	loop->stop = false;
	loop->running = false;
	return rc;
}
