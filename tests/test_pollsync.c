/* test_pollsync.c — a pollable object (fds + deadline + step) driven on the
 * loop: watchers follow its fds, the timer its deadline, idle costs nothing. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sr_loop.h"
#include "sr_pollsync.h"

struct obj {
	struct sr_loop *loop;
	int fds[2];
	int watch_pipe;       /* report the pipe's read end */
	uint64_t deadline;    /* absolute, UINT64_MAX for none */
	int steps;
	char got[64];
	size_t ngot;
	int deadline_steps;
};

static size_t obj_poll(void *o, struct pollfd *fds, size_t max, uint64_t *deadline)
{
	struct obj *b = o;
	size_t n = 0;
	if (b->watch_pipe && max) {
		fds[n].fd = b->fds[0];
		fds[n].events = POLLIN;
		n++;
	}
	*deadline = b->deadline;
	return n;
}

static void obj_step(void *o)
{
	struct obj *b = o;
	b->steps++;
	struct pollfd p = {.fd = b->fds[0], .events = POLLIN};
	if (b->watch_pipe && poll(&p, 1, 0) == 1) {
		ssize_t r = read(b->fds[0], b->got + b->ngot, sizeof(b->got) - 1 - b->ngot);
		if (r > 0)
			b->ngot += (size_t)r;
	}
	if (b->deadline != UINT64_MAX && sr_loop_now(b->loop) >= b->deadline) {
		b->deadline_steps++;
		b->deadline = UINT64_MAX; /* done: idle again */
	}
}

Test(pollsync, follows_fds_and_deadlines)
{
	struct obj b = {.deadline = UINT64_MAX};
	cr_assert_eq(pipe(b.fds), 0);
	cr_assert_eq(sr_loop_new(&b.loop), 0);
	struct sr_pollsync *p = NULL;
	cr_assert_eq(sr_pollsync_new(b.loop, obj_poll, obj_step, &b, &p), 0);

	/* idle: nothing to wait for, no step */
	cr_assert_eq(sr_loop_run_once(b.loop, 50), 0);
	cr_assert_eq(b.steps, 0);

	/* an fd appears: data on it makes a step */
	b.watch_pipe = 1;
	sr_pollsync_update(p);
	cr_assert_geq(sr_loop_run_once(b.loop, 0), 0); /* the deferred sync */
	cr_assert_eq(write(b.fds[1], "abc", 3), 3);
	for (int i = 0; i < 5 && b.ngot < 3; i++)
		cr_assert_geq(sr_loop_run_once(b.loop, 200), 0);
	cr_assert_eq(b.ngot, 3);
	cr_assert_str_eq(b.got, "abc");

	/* a deadline: the step comes once, at or after it */
	b.deadline = sr_loop_now(b.loop) + 30;
	sr_pollsync_update(p);
	int before = b.steps;
	for (int i = 0; i < 20 && !b.deadline_steps; i++)
		cr_assert_geq(sr_loop_run_once(b.loop, 100), 0);
	cr_assert_eq(b.deadline_steps, 1);
	cr_assert_gt(b.steps, before);

	/* the fd goes away: writing to the pipe no longer wakes anything */
	b.watch_pipe = 0;
	sr_pollsync_update(p);
	cr_assert_geq(sr_loop_run_once(b.loop, 0), 0);
	before = b.steps;
	cr_assert_eq(write(b.fds[1], "x", 1), 1);
	cr_assert_geq(sr_loop_run_once(b.loop, 100), 0);
	cr_assert_eq(b.steps, before, "a removed fd still woke the object");

	sr_pollsync_free(p);
	sr_loop_free(b.loop);
	close(b.fds[0]);
	close(b.fds[1]);
}
