/*
 * mm_wsseq.h — WebSocket event-sequence bookkeeping (reference §1.4, §1.6):
 * which connection to resume and from where, and for each frame whether
 * to deliver it, drop it as a replay, or report lost events. Pure (no I/O,
 * no clock), used by mm_ws.c and unit-tested on its own.
 *
 * Rules:
 *   - hello carries the connection_id and seq 0; events then carry
 *     1, 2, ...; the next expected seq is last seen + 1;
 *   - a reconnect resumes with ?connection_id=<id>&sequence_number=<next>;
 *   - an event whose seq is below the next expected one was delivered
 *     before (the server replays from what we asked, possibly earlier):
 *     dropped, so each event is delivered once per connection id;
 *   - a hello whose connection_id differs from the one we tried to resume
 *     means the server could not replay: a gap; so is an event whose seq
 *     jumps past the next expected one;
 *   - a resume is confirmed by its first replayed event, or (the server
 *     sends nothing when nothing was missed) when the owner says the grace
 *     period passed without a hello.
 * Ownership: plain struct, no allocation. Errors: none.
 */
#ifndef MM_WSSEQ_H
#define MM_WSSEQ_H

#include <stdbool.h>
#include <stddef.h>

struct mm_wsseq {
	char conn_id[64];    /* "" before the first hello */
	long next_seq;       /* next expected event seq */
	bool resume_sent;    /* the current attempt asked to resume ... */
	char attempt_id[64]; /* ... this connection id */
	bool confirmed;      /* hello seen, or the resume confirmed */
};

/* What one call decided. */
struct mm_wsseq_res {
	bool deliver;   /* hand the event to the owner */
	bool dup;       /* a replay of an event already delivered */
	bool gap;       /* events may have been lost: report before anything else */
	bool connected; /* the connection is now confirmed: report it */
	bool resumed;   /* ... and it is a resume that lost nothing */
};

/* A new connection attempt: writes the query to append to the WebSocket
 * path ("" for a fresh connection) into query (64 + 40 bytes suffice). */
void mm_wsseq_attempt(struct mm_wsseq *s, char *query, size_t len);

/* A hello frame with its connection_id and seq. */
void mm_wsseq_hello(struct mm_wsseq *s, const char *conn_id, long seq, struct mm_wsseq_res *r);

/* Any other event frame; seq < 0 when it had none (delivered as is). */
void mm_wsseq_event(struct mm_wsseq *s, long seq, struct mm_wsseq_res *r);

/* The resume grace period passed without a hello (owner's timer). */
void mm_wsseq_grace(struct mm_wsseq *s, struct mm_wsseq_res *r);

#endif
