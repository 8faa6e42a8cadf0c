/*
 * vt_batch.h — the batching policy between the diff engine and the chat:
 * coalesces bursts, paces live-post updates on a clock passed in, and
 * splits committed history into messages under the chat's size cap.
 *
 *   - At most one flush per min_interval (default 1 s); a flush happens once
 *     output has been quiet for quiet_ms (default 300 ms) or changes have
 *     waited a whole interval (continuous output).
 *   - A live update whose text equals the last one sent is never emitted.
 *   - A change that only touches volatile glyphs (digits, spinner glyphs)
 *     waits volatile_interval (default 5 s).
 *   - Commits are emitted before the live text of the same flush, split so
 *     that each message (lines joined by '\n' plus a code fence) stays
 *     within message_cap characters (default 16383); nothing is truncated.
 *   - A seal flushes at once: pending commits, the final live text, SEAL.
 *
 * Ownership: vt_batch_push takes the result's strings (the result is left
 * empty); ops passed to the callback are valid only during the call.
 * Errors: 0 or negative errno. No I/O and no clock reads.
 */
#ifndef VT_BATCH_H
#define VT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_diff.h"
#include "vt_scan.h"

enum vt_op_kind {
	VT_OP_COMMIT, /* lines, nlines; final on the stream's last content */
	VT_OP_LIVE,   /* text */
	VT_OP_SEAL,   /* the live post keeps its text; the next live is a new post */
	VT_OP_MARKER, /* marker */
	VT_OP_END,    /* the stream ended */
};

struct vt_op {
	enum vt_op_kind kind;
	uint64_t t_ms;
	const char *const *lines;
	size_t nlines;
	bool final;
	const char *text;
	const struct vt_marker *marker;
};

typedef void (*vt_op_cb)(void *data, const struct vt_op *op);

struct vt_batch_opts {
	uint64_t min_interval_ms;      /* 0 → 1000 */
	uint64_t volatile_interval_ms; /* 0 → 5000 */
	uint64_t quiet_ms;             /* 0 → 300 */
	size_t message_cap;            /* characters; 0 → 16383 */
};

struct vt_batch;

int vt_batch_new(struct vt_batch **out, const struct vt_batch_opts *opts,
		 vt_op_cb cb, void *data);
void vt_batch_free(struct vt_batch *b);

/* Queues a diff result (taking its strings). A seal flushes at once. */
int vt_batch_push(struct vt_batch *b, struct vt_diff_result *res, uint64_t now_ms);

/* Emits what is due at now_ms. */
int vt_batch_poll(struct vt_batch *b, uint64_t now_ms);

/* When vt_batch_poll next has something to do (UINT64_MAX: nothing). */
uint64_t vt_batch_deadline(const struct vt_batch *b);

/* The stream ended: emits pending commits, then the final result (its
 * commit as final content, or the last live text and a seal), then END. */
int vt_batch_end(struct vt_batch *b, struct vt_diff_result *final_res,
		 uint64_t now_ms);

/* True when a and b differ only in digits and spinner glyphs. */
bool vt_batch_volatile_only(const char *a, const char *b);

/* Number of Unicode code points in s (what the chat's cap counts). */
size_t vt_utf8_chars(const char *s);

#endif
