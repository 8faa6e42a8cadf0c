/* test_mm_pacer.c — the global REST pacer as a pure unit on a fake clock:
 * token bucket and burst, priorities, coalescing and per-key order, the
 * server's X-RateLimit headers, and 429 with Retry-After. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mm_pacer.h"

static const struct mm_pacer_result OK200 = {200, -1, -1, -1, -1};

struct req {
	struct mm_pacer_entry e; /* first: entries cast back to requests */
	int id;
};

static void init_req(struct req *r, int id, enum mm_prio prio, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->e.prio = prio;
	r->e.key = key;
}

/* Pops everything sendable at `now` and completes it with 200 at once;
 * returns how many were sent and writes their ids to ids (if given). */
static int drain(struct mm_pacer *p, uint64_t now, int *ids, int max, uint64_t *wake)
{
	int n = 0;
	struct mm_pacer_entry *e;
	while ((e = mm_pacer_next(p, now, wake)) != NULL) {
		if (ids && n < max)
			ids[n] = ((struct req *)e)->id;
		n++;
		cr_assert_eq(mm_pacer_done(p, e, now, &OK200), MM_PACER_COMPLETE);
	}
	return n;
}

Test(mm_pacer, burst_then_rate)
{
	struct mm_pacer_opts o = {.rate_per_sec = 10, .burst = 5, .max_inflight = 100};
	struct mm_pacer *p = mm_pacer_new(&o, 1000);
	struct req r[30];
	for (int i = 0; i < 30; i++) {
		init_req(&r[i], i, MM_PRIO_HISTORY, NULL);
		cr_assert_null(mm_pacer_push(p, &r[i].e, 1000));
	}
	uint64_t wake;
	int ids[30];
	/* The bucket starts full: exactly `burst` go at once. */
	cr_assert_eq(drain(p, 1000, ids, 30, &wake), 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(ids[i], i, "FIFO within a priority");
	/* Then one every 100 ms, and the pacer says when. */
	cr_assert_eq(wake, 1100, "wake %llu", (unsigned long long)wake);
	cr_assert_eq(drain(p, 1099, NULL, 0, &wake), 0);
	cr_assert_eq(drain(p, 1100, ids, 30, &wake), 1);
	cr_assert_eq(ids[0], 5);
	/* Over one second the rate holds: 10 more, not a new burst. */
	int sent = 0;
	for (uint64_t t = 1101; t <= 2100; t++)
		sent += drain(p, t, NULL, 0, &wake);
	cr_assert_eq(sent, 10, "sent %d in 1 s at 10/s", sent);
	/* An idle pacer refills to the burst, never beyond. */
	cr_assert_eq(drain(p, 60000, NULL, 0, &wake), 5);
	mm_pacer_free(p);
}

Test(mm_pacer, max_inflight)
{
	struct mm_pacer_opts o = {.rate_per_sec = 100, .burst = 100, .max_inflight = 2};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req r[4];
	for (int i = 0; i < 4; i++) {
		init_req(&r[i], i, MM_PRIO_REPLY, NULL);
		mm_pacer_push(p, &r[i].e, 0);
	}
	uint64_t wake;
	struct mm_pacer_entry *a = mm_pacer_next(p, 0, &wake);
	struct mm_pacer_entry *b = mm_pacer_next(p, 0, &wake);
	cr_assert(a && b);
	cr_assert_null(mm_pacer_next(p, 0, &wake));
	cr_assert_eq(wake, UINT64_MAX, "waits for a completion, not a time");
	cr_assert_eq(mm_pacer_done(p, a, 5, &OK200), MM_PACER_COMPLETE);
	struct mm_pacer_entry *c = mm_pacer_next(p, 5, &wake);
	cr_assert_eq(c, &r[2].e);
	mm_pacer_free(p);
}

Test(mm_pacer, priorities)
{
	struct mm_pacer_opts o = {.rate_per_sec = 1, .burst = 1, .max_inflight = 10};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req live, hist, card, reply;
	init_req(&live, 1, MM_PRIO_LIVE, NULL);
	init_req(&hist, 2, MM_PRIO_HISTORY, NULL);
	init_req(&card, 3, MM_PRIO_CARD, NULL);
	init_req(&reply, 4, MM_PRIO_REPLY, NULL);
	/* Queued worst first; sent best first, one per second. */
	mm_pacer_push(p, &live.e, 0);
	mm_pacer_push(p, &hist.e, 0);
	mm_pacer_push(p, &card.e, 0);
	mm_pacer_push(p, &reply.e, 0);
	int order[4], n = 0;
	uint64_t wake;
	for (uint64_t t = 0; t <= 4000 && n < 4; t += 1000)
		n += drain(p, t, order + n, 4 - n, &wake);
	cr_assert_eq(n, 4);
	cr_assert_eq(order[0], 4);
	cr_assert_eq(order[1], 3);
	cr_assert_eq(order[2], 2);
	cr_assert_eq(order[3], 1);
	mm_pacer_free(p);
}

Test(mm_pacer, live_edits_get_a_share_under_a_backlog)
{
	struct mm_pacer_opts o = {.rate_per_sec = 1, .burst = 1, .max_inflight = 10};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req hist[12], live;
	for (int i = 0; i < 12; i++) {
		init_req(&hist[i], i + 1, MM_PRIO_HISTORY, NULL);
		mm_pacer_push(p, &hist[i].e, 0);
	}
	init_req(&live, 100, MM_PRIO_LIVE, NULL);
	mm_pacer_push(p, &live.e, 0);
	int order[13], n = 0;
	uint64_t wake;
	for (uint64_t t = 0; t <= 20000 && n < 13; t += 1000)
		n += drain(p, t, order + n, 13 - n, &wake);
	cr_assert_eq(n, 13);
	/* the live edit does not wait behind the whole history backlog */
	int at = -1;
	for (int i = 0; i < n; i++)
		if (order[i] == 100)
			at = i;
	cr_assert_eq(at, 4, "the live edit went out as request %d", at);
	/* history keeps its own order */
	for (int i = 0, prev = 0; i < n; i++)
		if (order[i] != 100) {
			cr_assert_gt(order[i], prev);
			prev = order[i];
		}
	mm_pacer_free(p);
}

Test(mm_pacer, coalescing_keeps_place_and_newest)
{
	struct mm_pacer_opts o = {.rate_per_sec = 1, .burst = 1, .max_inflight = 10};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req first, edits[20], other;
	init_req(&first, 100, MM_PRIO_LIVE, NULL);
	mm_pacer_push(p, &first.e, 0);
	uint64_t wake;
	cr_assert_eq(mm_pacer_next(p, 0, &wake), &first.e); /* uses the token */
	mm_pacer_done(p, &first.e, 0, &OK200);

	init_req(&edits[0], 0, MM_PRIO_LIVE, "patch:p1");
	cr_assert_null(mm_pacer_push(p, &edits[0].e, 10));
	init_req(&other, 50, MM_PRIO_LIVE, "patch:p2");
	cr_assert_null(mm_pacer_push(p, &other.e, 20));
	/* 19 newer edits of p1: each replaces the queued one. */
	for (int i = 1; i < 20; i++) {
		init_req(&edits[i], i, MM_PRIO_LIVE, "patch:p1");
		struct mm_pacer_entry *old = mm_pacer_push(p, &edits[i].e, 30 + i);
		cr_assert_eq(old, &edits[i - 1].e, "edit %d supersedes the previous one", i);
		cr_assert_eq(old->where, 0, "the superseded entry is unlinked");
	}
	struct mm_pacer_stats st;
	mm_pacer_stats(p, 100, &st);
	cr_assert_eq(st.queued, 2);
	cr_assert_eq(st.superseded, 19);
	/* p1 was queued before p2, and its newest edit keeps that place. */
	int ids[2], n = 0;
	for (uint64_t t = 1000; t <= 3000 && n < 2; t += 1000)
		n += drain(p, t, ids + n, 2 - n, &wake);
	cr_assert_eq(n, 2);
	cr_assert_eq(ids[0], 19, "newest text of p1 first, got %d", ids[0]);
	cr_assert_eq(ids[1], 50);
	mm_pacer_free(p);
}

Test(mm_pacer, coalescing_takes_better_priority)
{
	struct mm_pacer_opts o = {.rate_per_sec = 10, .burst = 10};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req a, b, c;
	init_req(&a, 1, MM_PRIO_CARD, "card:x");
	init_req(&b, 2, MM_PRIO_CARD, NULL);
	init_req(&c, 3, MM_PRIO_LIVE, "card:x");
	mm_pacer_push(p, &a.e, 0);
	mm_pacer_push(p, &b.e, 0);
	cr_assert_eq(mm_pacer_push(p, &c.e, 0), &a.e);
	cr_assert_eq(c.e.prio, MM_PRIO_CARD);
	int ids[2];
	uint64_t wake;
	cr_assert_eq(drain(p, 0, ids, 2, &wake), 2);
	cr_assert_eq(ids[0], 3);
	cr_assert_eq(ids[1], 2);
	mm_pacer_free(p);
}

Test(mm_pacer, same_key_never_in_flight_twice)
{
	struct mm_pacer_opts o = {.rate_per_sec = 100, .burst = 100, .max_inflight = 8};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req a, b, c;
	init_req(&a, 1, MM_PRIO_LIVE, "patch:p1");
	init_req(&b, 2, MM_PRIO_LIVE, "patch:p1");
	init_req(&c, 3, MM_PRIO_LIVE, "patch:p2");
	mm_pacer_push(p, &a.e, 0);
	uint64_t wake;
	cr_assert_eq(mm_pacer_next(p, 0, &wake), &a.e);
	/* a is in flight: b does not supersede it, and waits for it. */
	cr_assert_null(mm_pacer_push(p, &b.e, 1));
	mm_pacer_push(p, &c.e, 1);
	cr_assert_eq(mm_pacer_next(p, 2, &wake), &c.e, "other keys go on");
	cr_assert_null(mm_pacer_next(p, 2, &wake));
	cr_assert_eq(wake, UINT64_MAX);
	mm_pacer_done(p, &a.e, 3, &OK200);
	cr_assert_eq(mm_pacer_next(p, 3, &wake), &b.e);
	mm_pacer_free(p);
}

Test(mm_pacer, retry_after_429_keeps_request_and_place)
{
	struct mm_pacer_opts o = {.rate_per_sec = 10, .burst = 10, .max_inflight = 1};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req a, b;
	init_req(&a, 1, MM_PRIO_HISTORY, NULL);
	init_req(&b, 2, MM_PRIO_HISTORY, NULL);
	mm_pacer_push(p, &a.e, 0);
	mm_pacer_push(p, &b.e, 0);
	uint64_t wake;
	cr_assert_eq(mm_pacer_next(p, 0, &wake), &a.e);
	struct mm_pacer_result r429 = {429, 101, 0, 3, 2};
	cr_assert_eq(mm_pacer_done(p, &a.e, 100, &r429), MM_PACER_RETRY);
	/* Nothing at all goes out during Retry-After (2 s), not even b. */
	cr_assert_null(mm_pacer_next(p, 1000, &wake));
	cr_assert_eq(wake, 2100, "wake %llu", (unsigned long long)wake);
	/* Then a again, before b: its place in line was kept. */
	cr_assert_eq(mm_pacer_next(p, 2100, &wake), &a.e);
	cr_assert_eq(a.e.attempts, 2);
	cr_assert_eq(a.e.n429, 1);
	mm_pacer_done(p, &a.e, 2150, &OK200);
	cr_assert_eq(mm_pacer_next(p, 2150, &wake), &b.e);
	mm_pacer_done(p, &b.e, 2200, &OK200);
	struct mm_pacer_stats st;
	mm_pacer_stats(p, 2200, &st);
	cr_assert_eq(st.n429, 1);
	cr_assert_eq(st.sent, 3);
	cr_assert_eq(st.queued + st.inflight, 0);
	mm_pacer_free(p);
}

Test(mm_pacer, retry_without_retry_after_uses_reset)
{
	struct mm_pacer *p = mm_pacer_new(NULL, 0);
	struct req a;
	init_req(&a, 1, MM_PRIO_REPLY, NULL);
	mm_pacer_push(p, &a.e, 0);
	uint64_t wake;
	cr_assert_not_null(mm_pacer_next(p, 0, &wake));
	struct mm_pacer_result r = {429, -1, -1, 4, -1};
	cr_assert_eq(mm_pacer_done(p, &a.e, 0, &r), MM_PACER_RETRY);
	cr_assert_null(mm_pacer_next(p, 3999, &wake));
	cr_assert_eq(wake, 4000);
	cr_assert_eq(mm_pacer_next(p, 4000, &wake), &a.e);
	mm_pacer_free(p);
}

Test(mm_pacer, retried_entry_superseded_by_newer_edit)
{
	struct mm_pacer *p = mm_pacer_new(NULL, 0);
	struct req a, b;
	init_req(&a, 1, MM_PRIO_LIVE, "patch:p1");
	init_req(&b, 2, MM_PRIO_LIVE, "patch:p1");
	mm_pacer_push(p, &a.e, 0);
	uint64_t wake;
	cr_assert_eq(mm_pacer_next(p, 0, &wake), &a.e);
	mm_pacer_push(p, &b.e, 10);
	struct mm_pacer_result r429 = {429, 101, 0, 1, 1};
	/* a came back with 429 while b (newer text) waits: only b is sent. */
	cr_assert_eq(mm_pacer_done(p, &a.e, 20, &r429), MM_PACER_SUPERSEDED);
	cr_assert_eq(a.e.where, 0);
	cr_assert_eq(mm_pacer_next(p, 1020, &wake), &b.e);
	cr_assert_null(mm_pacer_next(p, 1020, &wake));
	mm_pacer_free(p);
}

Test(mm_pacer, gives_up_after_max_429)
{
	struct mm_pacer_opts o = {.max_429 = 3};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req a;
	init_req(&a, 1, MM_PRIO_REPLY, NULL);
	mm_pacer_push(p, &a.e, 0);
	struct mm_pacer_result r429 = {429, -1, -1, -1, 1};
	uint64_t t = 0, wake;
	enum mm_pacer_verdict v;
	int rounds = 0;
	do {
		struct mm_pacer_entry *e = mm_pacer_next(p, t, &wake);
		cr_assert_eq(e, &a.e);
		v = mm_pacer_done(p, e, t, &r429);
		t += 1000;
		rounds++;
	} while (v == MM_PACER_RETRY && rounds < 10);
	cr_assert_eq(v, MM_PACER_COMPLETE);
	cr_assert_eq(rounds, 3);
	mm_pacer_free(p);
}

Test(mm_pacer, remaining_header_caps_the_bucket)
{
	struct mm_pacer_opts o = {.rate_per_sec = 10, .burst = 100, .max_inflight = 100};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req r[50];
	for (int i = 0; i < 50; i++) {
		init_req(&r[i], i, MM_PRIO_HISTORY, NULL);
		mm_pacer_push(p, &r[i].e, 0);
	}
	uint64_t wake;
	struct mm_pacer_entry *e = mm_pacer_next(p, 0, &wake);
	/* Someone else used the server's bucket: 6 left of 101, full again
	 * in 10 s. We keep one spare, so 5 more go now, then the pace drops
	 * to what the server refills ((101 - 6) / 10 s = 9.5/s). */
	struct mm_pacer_result h = {200, 101, 6, 10, -1};
	cr_assert_eq(mm_pacer_done(p, e, 0, &h), MM_PACER_COMPLETE);
	cr_assert_eq(drain(p, 0, NULL, 0, &wake), 5);
	cr_assert_eq(wake, 106, "next token at 1/9.5 s, wake %llu", (unsigned long long)wake);
	mm_pacer_free(p);
}

Test(mm_pacer, remaining_counts_requests_in_flight)
{
	struct mm_pacer_opts o = {.rate_per_sec = 10, .burst = 100, .max_inflight = 10};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req r[10];
	for (int i = 0; i < 10; i++) {
		init_req(&r[i], i, MM_PRIO_HISTORY, NULL);
		mm_pacer_push(p, &r[i].e, 0);
	}
	uint64_t wake;
	struct mm_pacer_entry *sent[4];
	for (int i = 0; i < 4; i++)
		sent[i] = mm_pacer_next(p, 0, &wake);
	/* The first answer says 3 left; 3 more of ours are already on the
	 * way, so the bucket goes negative and nothing is sent for a while. */
	struct mm_pacer_result h = {200, 101, 3, 1, -1};
	mm_pacer_done(p, sent[0], 0, &h);
	cr_assert_null(mm_pacer_next(p, 0, &wake));
	cr_assert_gt(wake, 100, "wake %llu", (unsigned long long)wake);
	mm_pacer_free(p);
}

Test(mm_pacer, requeue_and_remove)
{
	struct mm_pacer *p = mm_pacer_new(NULL, 0);
	struct req a, b;
	init_req(&a, 1, MM_PRIO_REPLY, NULL);
	init_req(&b, 2, MM_PRIO_REPLY, NULL);
	mm_pacer_push(p, &a.e, 0);
	mm_pacer_push(p, &b.e, 0);
	uint64_t wake;
	cr_assert_eq(mm_pacer_next(p, 0, &wake), &a.e);
	/* The connection failed before reaching the server: a is put back
	 * in its place with a delay; b may go meanwhile. */
	cr_assert_null(mm_pacer_requeue(p, &a.e, 10, 500));
	cr_assert_eq(mm_pacer_next(p, 10, &wake), &b.e);
	cr_assert_null(mm_pacer_next(p, 10, &wake));
	cr_assert_eq(wake, 500);
	mm_pacer_remove(p, &a.e);
	cr_assert_null(mm_pacer_next(p, 600, &wake));
	struct mm_pacer_stats st;
	mm_pacer_stats(p, 600, &st);
	cr_assert_eq(st.queued, 0);
	cr_assert_eq(st.inflight, 1);
	mm_pacer_remove(p, &b.e);
	mm_pacer_free(p);
}

Test(mm_pacer, recovers_after_429_storm)
{
	struct mm_pacer_opts o = {.rate_per_sec = 1000, .burst = 1000, .max_inflight = 16};
	struct mm_pacer *p = mm_pacer_new(&o, 0);
	struct req r[16];
	struct mm_pacer_entry *e[16];
	uint64_t wake;
	for (int i = 0; i < 16; i++) {
		init_req(&r[i], i, MM_PRIO_HISTORY, NULL);
		mm_pacer_push(p, &r[i].e, 0);
	}
	for (int i = 0; i < 16; i++)
		cr_assert_not_null(e[i] = mm_pacer_next(p, 0, &wake));
	/* A server with a burst of 2 at 10/s refuses them all. */
	struct mm_pacer_result r429 = {429, 3, 0, 1, 1};
	for (int i = 0; i < 16; i++)
		cr_assert_eq(mm_pacer_done(p, e[i], 10, &r429), MM_PACER_RETRY);
	cr_assert_null(mm_pacer_next(p, 500, &wake));
	cr_assert_eq(wake, 1010);
	/* The stale figures of the refused requests do not hold it back:
	 * after Retry-After it goes on at the pace the headers imply
	 * (3 per second), not at its own 1000/s and not after a long wait. */
	int ids[16];
	cr_assert_eq(drain(p, 1010, ids, 16, &wake), 2);
	cr_assert_eq(ids[0], 0, "the first refused request goes first");
	cr_assert_eq(ids[1], 1);
	cr_assert_eq(wake, 1344, "wake %llu", (unsigned long long)wake);
	mm_pacer_free(p);
}
