/*
 * vt_pipe.h — one session's whole vt pipeline: screen → frames → diff →
 * scanner → batching, driven by a clock the caller passes in. This is what
 * `smrelay replay` runs and what the daemon runs per session.
 *
 * Frame policy (when to snapshot), after mosh and tmux: inside a
 * synchronized update (?2026h) wait for its end, at most sync_timeout_ms;
 * otherwise snapshot once output has been quiet for frame_quiet_ms, or
 * frame_max_ms after the first unsnapshotted byte while output flows.
 *
 * Ownership: vt_pipe owns its parts. Ops reach the callback as they are
 * due (see vt_batch.h); markers are emitted as soon as a frame shows them.
 * Errors: 0 or negative errno; setup errors are described in `err`.
 * No I/O and no clock reads.
 */
#ifndef VT_PIPE_H
#define VT_PIPE_H

#include <stdint.h>

#include "vt_batch.h"
#include "vt_scan.h"
#include "vt_screen.h"

struct vt_pipe_opts {
	struct vt_screen_opts screen;
	struct vt_scan_opts scan;
	struct vt_batch_opts batch;
	uint64_t frame_quiet_ms;  /* 0 → 16 */
	uint64_t frame_max_ms;    /* 0 → 50 */
	uint64_t sync_timeout_ms; /* 0 → 1000 */
	vt_op_cb cb;
	void *cb_data;
};

struct vt_pipe;

int vt_pipe_new(struct vt_pipe **out, const struct vt_pipe_opts *opts,
		char *err, size_t errlen);
void vt_pipe_free(struct vt_pipe *p);

void vt_pipe_feed(struct vt_pipe *p, const char *buf, size_t len, uint64_t now_ms);
int vt_pipe_resize(struct vt_pipe *p, unsigned cols, unsigned rows, uint64_t now_ms);

/* Takes a frame if one is due and emits the ops that are due. */
int vt_pipe_tick(struct vt_pipe *p, uint64_t now_ms);

/* When vt_pipe_tick next has work (UINT64_MAX: none until more input). */
uint64_t vt_pipe_deadline(const struct vt_pipe *p);

/* The stream ended: last frame, final commit or seal, END. */
int vt_pipe_end(struct vt_pipe *p, uint64_t now_ms);

/* The screen, e.g. for an attach repaint. Owned by the pipe. */
struct vt_screen *vt_pipe_screen(struct vt_pipe *p);

/* Frames taken so far (for benchmarks and tests). */
uint64_t vt_pipe_frames(const struct vt_pipe *p);

#endif
