/*
 * mm_pacer.h — the one global pacer every Mattermost REST call goes
 * through. The server's rate limit is per bot (or per address), shared by
 * every session, so one queue decides what is sent and when.
 *
 * Pure computation: no I/O, no clock reads (every call takes `now` in ms
 * on any monotonic clock), so it is unit-tested without a network.
 *
 * What it does:
 *   - token bucket: up to `burst` requests at once, then `rate_per_sec`;
 *   - at most `max_inflight` requests in flight;
 *   - strict priorities (MM_PRIO_REPLY first, MM_PRIO_LIVE last), FIFO
 *     within a priority;
 *   - coalescing: a queued, not yet sent entry with the same key is
 *     replaced by the newer one, which takes the older one's place in the
 *     queue (so a post edited faster than the queue drains is never pushed
 *     to the back and starved); the older is handed back as "superseded";
 *   - per-key order: an entry is not sent while another with its key is in
 *     flight, so two edits of one post never race on the server;
 *   - the server's X-RateLimit-Limit / -Remaining / -Reset headers: a
 *     second bucket mirrors the server's. Each answer resets it to what
 *     the server says is left, minus what is in flight and one spare; it
 *     refills at our rate, or below a quarter of the limit at the pace the
 *     headers imply ((limit - remaining) / reset). A request needs a token
 *     in both buckets, so the pacer slows down before the server has to
 *     say no, whatever rate it was configured with;
 *   - 429: everything waits Retry-After (or Reset, or 1 s) and the same
 *     entry is retried in its original place.
 *
 * Ownership: entries are intrusive (struct mm_pacer_entry lives inside the
 * caller's request); the pacer only links them. The key string is the
 * caller's and must live while the entry is queued or in flight.
 * Errors: none at run time; mm_pacer_new returns NULL without memory.
 */
#ifndef MM_PACER_H
#define MM_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lower values are sent first. */
enum mm_prio {
	MM_PRIO_REPLY,   /* command replies, errors users wait for */
	MM_PRIO_CARD,    /* approval cards and their updates */
	MM_PRIO_HISTORY, /* transcript lines that became final */
	MM_PRIO_LIVE,    /* edits of a session's live post */
	MM_PRIO_COUNT
};

struct mm_pacer_opts {
	double rate_per_sec;   /* 0 → 10 (the server's default PerSec) */
	unsigned burst;        /* 0 → 100 (the server's default MaxBurst) */
	unsigned max_inflight; /* 0 → 4 */
	unsigned max_429;      /* 429 answers tolerated per entry; 0 → 50 */
};

/* Lives inside the caller's request. prio and key are set before
 * mm_pacer_push and not changed while the entry is linked; the rest is
 * the pacer's (attempts may be read). */
struct mm_pacer_entry {
	enum mm_prio prio;
	const char *key; /* coalesce key or NULL */

	struct mm_pacer_entry *prev, *next;
	uint64_t seq;        /* place in the queue (older = smaller) */
	uint64_t not_before; /* mm_pacer_requeue delay */
	unsigned attempts;   /* times it was sent */
	unsigned n429;       /* 429 answers it got */
	int where;           /* 0 unlinked, 1 queued, 2 in flight */
};

/* What came back for a sent entry. Unknown numbers are -1. */
struct mm_pacer_result {
	long status;          /* HTTP status; 0 when nothing came back */
	long limit;           /* X-RateLimit-Limit */
	long remaining;       /* X-RateLimit-Remaining */
	double reset_s;       /* X-RateLimit-Reset (seconds until full) */
	double retry_after_s; /* Retry-After (seconds) */
};

enum mm_pacer_verdict {
	MM_PACER_COMPLETE,   /* finished: report the result to the caller */
	MM_PACER_RETRY,      /* 429: queued again in its place; nothing to report */
	MM_PACER_SUPERSEDED, /* 429, and a newer entry with its key took its
	                      * place: report it as superseded */
};

struct mm_pacer_stats {
	size_t queued, inflight;
	unsigned long sent, n429, superseded;
	double tokens;          /* what may be sent now (the lower bucket) */
	uint64_t blocked_until; /* 0 when not blocked by a 429 */
};

struct mm_pacer;

struct mm_pacer *mm_pacer_new(const struct mm_pacer_opts *o, uint64_t now);
/* Unlinks whatever is still linked (entries are the caller's). */
void mm_pacer_free(struct mm_pacer *p);

/* Queues e. Returns the entry it superseded (a queued, not yet sent entry
 * with the same key, now unlinked; e took its place and the better of the
 * two priorities) or NULL. */
struct mm_pacer_entry *mm_pacer_push(struct mm_pacer *p, struct mm_pacer_entry *e, uint64_t now);

/* The next entry to send now (it moves to "in flight" and uses a token),
 * or NULL; then *wake is when asking again can give one (UINT64_MAX: not
 * before something is pushed or completes). Call until it returns NULL. */
struct mm_pacer_entry *mm_pacer_next(struct mm_pacer *p, uint64_t now, uint64_t *wake);

/* A sent entry's answer. MM_PACER_RETRY and MM_PACER_SUPERSEDED are only
 * given for 429 (fewer than max_429 times per entry); otherwise the entry is
 * unlinked and MM_PACER_COMPLETE returned. The rate-limit numbers are used
 * whatever the status. */
enum mm_pacer_verdict mm_pacer_done(struct mm_pacer *p, struct mm_pacer_entry *e, uint64_t now,
				    const struct mm_pacer_result *r);

/* Puts a sent entry back in its original place, not to be sent before
 * not_before (the caller's retry after a failure that did not reach the
 * server). Returns the entry superseded by it (e itself when a newer entry
 * with its key is queued; that one takes e's place) or NULL. */
struct mm_pacer_entry *mm_pacer_requeue(struct mm_pacer *p, struct mm_pacer_entry *e,
					uint64_t now, uint64_t not_before);

/* Unlinks e wherever it is (queued or in flight). */
void mm_pacer_remove(struct mm_pacer *p, struct mm_pacer_entry *e);

void mm_pacer_stats(struct mm_pacer *p, uint64_t now, struct mm_pacer_stats *out);

#endif
