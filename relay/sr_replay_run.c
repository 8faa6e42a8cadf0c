/* sr_replay_run.c — replays a stream through a vt pipeline on its clock. */
#include "sr_replay.h"

#include <stdint.h>

/* Runs every deadline up to `until`; returns the time of the last one run
 * (or `from` when none was due) through *last. */
static int run_until(struct vt_pipe *p, uint64_t until, uint64_t *last)
{
	uint64_t dl;
	while ((dl = vt_pipe_deadline(p)) <= until) {
		int r = vt_pipe_tick(p, dl);
		if (r < 0)
			return r;
		*last = dl;
	}
	return 0;
}

/* How long after the last chunk the session is left idle before the stream
 * ends, so the last frame and flush happen as they would live. */
#define IDLE_AFTER_MS 10000u

int sr_replay_run(const char *raw, size_t len, const struct sr_timing *t,
		  unsigned cols, unsigned rows, vt_op_cb cb, void *data,
		  char *err, size_t errlen)
{
	struct vt_pipe *p = NULL;
	struct vt_pipe_opts o = {
		.screen = {.cols = cols, .rows = rows},
		.cb = cb,
		.cb_data = data,
	};
	int r = vt_pipe_new(&p, &o, err, errlen);
	if (r < 0)
		return r;
	size_t pos = 0;
	uint64_t now = 0;
	for (size_t i = 0; r == 0 && pos < len; i++) {
		size_t n = t ? (i < t->n ? t->bytes[i] : len - pos) : 4096;
		if (n > len - pos)
			n = len - pos;
		if (t && i < t->n && t->at_ms[i] > now) {
			r = run_until(p, t->at_ms[i] - 1, &now);
			now = t->at_ms[i];
		}
		if (r == 0) {
			vt_pipe_feed(p, raw + pos, n, now);
			r = vt_pipe_tick(p, now);
		}
		pos += n;
	}
	if (r == 0 && t)
		r = run_until(p, now + IDLE_AFTER_MS, &now);
	if (r == 0)
		r = vt_pipe_end(p, now);
	vt_pipe_free(p);
	return r;
}
