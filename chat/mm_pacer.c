/* mm_pacer.c — token bucket, priority queue and coalescing for REST calls
 * (see mm_pacer.h). Lists are short (a few hundred entries at worst), so
 * plain linked lists and linear scans are enough. */
#include "mm_pacer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { WHERE_NONE, WHERE_QUEUED, WHERE_INFLIGHT };

/* Refills add up fractions of a token; without a little slack a token
 * due at exactly t could read as 0.9999999 at t. */
#define TOKEN_EPS 1e-9

struct list {
	struct mm_pacer_entry *head, *tail;
	size_t n;
};

#define LIVE_SHARE 5 /* one request in five for live edits, when they wait */

struct mm_pacer {
	double rate, burst;
	unsigned max_inflight, max_429;

	double tokens;
	uint64_t last; /* when the buckets were last refilled */

	/* The server's bucket as its last X-RateLimit headers described it:
	 * reset (not lowered) by each answer, refilled at the server's pace
	 * (hint_rate while its bucket is low, else ours). */
	bool srv_known;
	double srv_tokens, srv_cap;
	double hint_rate; /* 0: none */

	uint64_t blocked_until; /* a 429 stops everything until then */
	uint64_t next_seq;

	struct list q[MM_PRIO_COUNT];
	struct list inflight;

	unsigned long sent, n429, superseded;
};

static void list_unlink(struct list *l, struct mm_pacer_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->n--;
}

static void list_append(struct list *l, struct mm_pacer_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
}

/* Inserts e by seq (most inserts are at the tail: walk from there). */
static void list_insert_sorted(struct list *l, struct mm_pacer_entry *e)
{
	struct mm_pacer_entry *at = l->tail;
	while (at && at->seq > e->seq)
		at = at->prev;
	if (!at) {
		e->prev = NULL;
		e->next = l->head;
		if (l->head)
			l->head->prev = e;
		else
			l->tail = e;
		l->head = e;
	} else {
		e->prev = at;
		e->next = at->next;
		if (at->next)
			at->next->prev = e;
		else
			l->tail = e;
		at->next = e;
	}
	l->n++;
}

static void unlink_entry(struct mm_pacer *p, struct mm_pacer_entry *e)
{
	if (e->where == WHERE_QUEUED)
		list_unlink(&p->q[e->prio], e);
	else if (e->where == WHERE_INFLIGHT)
		list_unlink(&p->inflight, e);
	e->where = WHERE_NONE;
}

static void enqueue(struct mm_pacer *p, struct mm_pacer_entry *e)
{
	list_insert_sorted(&p->q[e->prio], e);
	e->where = WHERE_QUEUED;
}

static double srv_rate(const struct mm_pacer *p)
{
	return p->hint_rate > 0 && p->hint_rate < p->rate ? p->hint_rate : p->rate;
}

static void refill(struct mm_pacer *p, uint64_t now)
{
	if (now <= p->last)
		return;
	double s = (double)(now - p->last) / 1000.0;
	p->tokens += s * p->rate;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	if (p->srv_known) {
		p->srv_tokens += s * srv_rate(p);
		if (p->srv_tokens > p->srv_cap)
			p->srv_tokens = p->srv_cap;
	}
	p->last = now;
}

/* What may be sent now: the lower of our bucket and the server's. */
static double avail(const struct mm_pacer *p, double *rate)
{
	*rate = p->rate;
	if (p->srv_known && p->srv_tokens < p->tokens) {
		*rate = srv_rate(p);
		return p->srv_tokens;
	}
	return p->tokens;
}

static bool same_key(const struct mm_pacer_entry *a, const char *key)
{
	return key && a->key && strcmp(a->key, key) == 0;
}

static struct mm_pacer_entry *find_queued(struct mm_pacer *p, const char *key)
{
	if (!key)
		return NULL;
	for (int i = 0; i < MM_PRIO_COUNT; i++)
		for (struct mm_pacer_entry *e = p->q[i].head; e; e = e->next)
			if (same_key(e, key))
				return e;
	return NULL;
}

static bool key_in_flight(struct mm_pacer *p, const char *key)
{
	if (!key)
		return false;
	for (struct mm_pacer_entry *e = p->inflight.head; e; e = e->next)
		if (same_key(e, key))
			return true;
	return false;
}

struct mm_pacer *mm_pacer_new(const struct mm_pacer_opts *o, uint64_t now)
{
	struct mm_pacer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->rate = o && o->rate_per_sec > 0 ? o->rate_per_sec : 10.0;
	p->burst = o && o->burst ? (double)o->burst : 100.0;
	p->max_inflight = o && o->max_inflight ? o->max_inflight : 4;
	p->max_429 = o && o->max_429 ? o->max_429 : 50;
	p->tokens = p->burst;
	p->last = now;
	p->next_seq = 1;
	return p;
}

void mm_pacer_free(struct mm_pacer *p)
{
	if (!p)
		return;
	for (int i = 0; i < MM_PRIO_COUNT; i++)
		while (p->q[i].head)
			unlink_entry(p, p->q[i].head);
	while (p->inflight.head)
		unlink_entry(p, p->inflight.head);
	free(p);
}

struct mm_pacer_entry *mm_pacer_push(struct mm_pacer *p, struct mm_pacer_entry *e, uint64_t now)
{
	(void)now;
	if (e->prio < 0 || e->prio >= MM_PRIO_COUNT)
		e->prio = MM_PRIO_LIVE;
	e->prev = e->next = NULL;
	e->not_before = 0;
	e->attempts = 0;
	e->n429 = 0;
	struct mm_pacer_entry *old = find_queued(p, e->key);
	if (old) {
		/* The newer text wins but keeps the older place in line. */
		e->seq = old->seq;
		if (old->prio < e->prio)
			e->prio = old->prio;
		unlink_entry(p, old);
		p->superseded++;
	} else {
		e->seq = p->next_seq++;
	}
	enqueue(p, e);
	return old;
}

struct mm_pacer_entry *mm_pacer_next(struct mm_pacer *p, uint64_t now, uint64_t *wake)
{
	*wake = UINT64_MAX;
	refill(p, now);
	if (now < p->blocked_until) {
		*wake = p->blocked_until;
		return NULL;
	}
	if (p->inflight.n >= p->max_inflight)
		return NULL; /* a completion wakes the caller */

	struct mm_pacer_entry *pick = NULL;
	uint64_t later = UINT64_MAX;
	/* Strict priorities, except that every LIVE_SHARE-th request goes to a
	 * live edit when one waits: under a saturated budget history would
	 * otherwise starve the live screens (bench_chat at 100 sessions). */
	int order[MM_PRIO_COUNT + 1], no = 0;
	if (p->sent % LIVE_SHARE == LIVE_SHARE - 1)
		order[no++] = MM_PRIO_LIVE;
	for (int i = 0; i < MM_PRIO_COUNT; i++)
		order[no++] = i;
	for (int oi = 0; oi < no && !pick; oi++) {
		int i = order[oi];
		for (struct mm_pacer_entry *e = p->q[i].head; e; e = e->next) {
			if (e->not_before > now) {
				if (e->not_before < later)
					later = e->not_before;
				continue;
			}
			if (key_in_flight(p, e->key))
				continue; /* its completion wakes the caller */
			pick = e;
			break;
		}
	}
	if (!pick) {
		*wake = later;
		return NULL;
	}
	double rate, have = avail(p, &rate);
	if (have + TOKEN_EPS < 1.0) {
		double ms = ceil((1.0 - have) / rate * 1000.0);
		*wake = now + (uint64_t)(ms < 1 ? 1 : ms);
		return NULL;
	}
	p->tokens -= 1.0;
	p->srv_tokens -= 1.0;
	unlink_entry(p, pick);
	list_append(&p->inflight, pick);
	pick->where = WHERE_INFLIGHT;
	pick->attempts++;
	p->sent++;
	return pick;
}

/* The server's view of its bucket (see mm_pacer.h). */
static void apply_headers(struct mm_pacer *p, const struct mm_pacer_result *r)
{
	if (r->remaining < 0)
		return;
	/* What is still in flight was probably not counted in this answer,
	 * and one spare is kept for the WebSocket reconnect and others. The
	 * estimate is replaced, not lowered: an older, lower figure (say from
	 * a 429 storm whose other requests were refused too) must not hold
	 * the pacer back once a fresher answer is in. */
	p->srv_known = true;
	p->srv_tokens = (double)r->remaining - (double)p->inflight.n - 1.0;
	p->srv_cap = r->limit > 0 ? (double)r->limit - 1.0 : p->burst;
	if (r->limit > 0 && r->remaining * 4 < r->limit && r->reset_s > 0) {
		/* GCRA refills at (limit - remaining) / reset; Reset is rounded
		 * up, so this errs on the slow side. */
		p->hint_rate = (double)(r->limit - r->remaining) / r->reset_s;
	} else if (r->limit > 0) {
		p->hint_rate = 0;
	}
}

static struct mm_pacer_entry *requeue(struct mm_pacer *p, struct mm_pacer_entry *e)
{
	struct mm_pacer_entry *newer = find_queued(p, e->key);
	if (newer) {
		/* A newer entry for the same key waits: it takes e's place and
		 * e is dropped, so the key is sent once, with the newest data. */
		unlink_entry(p, newer);
		newer->seq = e->seq;
		if (e->prio < newer->prio)
			newer->prio = e->prio;
		enqueue(p, newer);
		p->superseded++;
		return e;
	}
	enqueue(p, e);
	return NULL;
}

enum mm_pacer_verdict mm_pacer_done(struct mm_pacer *p, struct mm_pacer_entry *e, uint64_t now,
				    const struct mm_pacer_result *r)
{
	refill(p, now);
	unlink_entry(p, e);
	apply_headers(p, r);
	if (r->status != 429)
		return MM_PACER_COMPLETE;

	p->n429++;
	e->n429++;
	double wait_s = r->retry_after_s > 0 ? r->retry_after_s : r->reset_s > 0 ? r->reset_s : 1.0;
	uint64_t until = now + (uint64_t)(wait_s * 1000.0);
	if (until > p->blocked_until)
		p->blocked_until = until;
	if (p->tokens > 0)
		p->tokens = 0;
	if (e->n429 >= p->max_429)
		return MM_PACER_COMPLETE;
	return requeue(p, e) ? MM_PACER_SUPERSEDED : MM_PACER_RETRY;
}

struct mm_pacer_entry *mm_pacer_requeue(struct mm_pacer *p, struct mm_pacer_entry *e,
					uint64_t now, uint64_t not_before)
{
	(void)now;
	unlink_entry(p, e);
	e->not_before = not_before;
	return requeue(p, e);
}

void mm_pacer_remove(struct mm_pacer *p, struct mm_pacer_entry *e)
{
	unlink_entry(p, e);
}

void mm_pacer_stats(struct mm_pacer *p, uint64_t now, struct mm_pacer_stats *out)
{
	refill(p, now);
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < MM_PRIO_COUNT; i++)
		out->queued += p->q[i].n;
	out->inflight = p->inflight.n;
	out->sent = p->sent;
	out->n429 = p->n429;
	out->superseded = p->superseded;
	double rate;
	out->tokens = avail(p, &rate);
	out->blocked_until = p->blocked_until > now ? p->blocked_until : 0;
}
