/* vt_pipe.c — the per-session vt pipeline described in vt_pipe.h. */
#include "vt_pipe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vt_diff.h"
#include "vt_filter.h"

struct vt_pipe {
	struct vt_pipe_opts o;
	struct vt_screen *screen;
	struct vt_diff *diff;
	struct vt_scan *scan;
	struct vt_batch *batch;

	bool dirty;            /* bytes or a resize not yet in a frame */
	uint64_t first_dirty;  /* when the oldest of them arrived */
	uint64_t last_input;
	bool in_sync;
	uint64_t sync_since;
	uint64_t sync_ends_seen;
	uint64_t frames;
	uint64_t now; /* time of the frame being processed, for marker ops */
};

int vt_pipe_new(struct vt_pipe **out, const struct vt_pipe_opts *opts,
		char *err, size_t errlen)
{
	struct vt_pipe *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *opts;
	if (!p->o.frame_quiet_ms)
		p->o.frame_quiet_ms = 16;
	if (!p->o.frame_max_ms)
		p->o.frame_max_ms = 50;
	if (!p->o.sync_timeout_ms)
		p->o.sync_timeout_ms = 1000;
	int r = vt_screen_new(&p->screen, &p->o.screen);
	if (r == 0)
		r = vt_diff_new(&p->diff);
	if (r == 0)
		r = vt_scan_new(&p->scan, &p->o.scan, err, errlen);
	if (r == 0)
		r = vt_batch_new(&p->batch, &p->o.batch, p->o.cb, p->o.cb_data);
	if (r < 0) {
		vt_pipe_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void vt_pipe_free(struct vt_pipe *p)
{
	if (!p)
		return;
	vt_batch_free(p->batch);
	vt_scan_free(p->scan);
	vt_diff_free(p->diff);
	vt_screen_free(p->screen);
	free(p);
}

static void mark_dirty(struct vt_pipe *p, uint64_t now)
{
	if (!p->dirty)
		p->first_dirty = now;
	p->dirty = true;
	p->last_input = now;
}

void vt_pipe_feed(struct vt_pipe *p, const char *buf, size_t len, uint64_t now_ms)
{
	if (!len)
		return;
	vt_screen_feed(p->screen, buf, len);
	mark_dirty(p, now_ms);
	bool sync = vt_screen_modes(p->screen) & VT_MODE_SYNC;
	if (sync && !p->in_sync)
		p->sync_since = now_ms;
	p->in_sync = sync;
}

int vt_pipe_resize(struct vt_pipe *p, unsigned cols, unsigned rows, uint64_t now_ms)
{
	int r = vt_screen_resize(p->screen, cols, rows);
	if (r == 0)
		mark_dirty(p, now_ms);
	return r;
}

static uint64_t frame_deadline(const struct vt_pipe *p)
{
	if (!p->dirty)
		return UINT64_MAX;
	if (p->in_sync)
		return p->sync_since + p->o.sync_timeout_ms;
	if (vt_screen_sync_ends(p->screen) != p->sync_ends_seen)
		return p->last_input; /* a synchronized frame just completed */
	uint64_t quiet = p->last_input + p->o.frame_quiet_ms;
	uint64_t cap = p->first_dirty + p->o.frame_max_ms;
	return quiet < cap ? quiet : cap;
}

uint64_t vt_pipe_deadline(const struct vt_pipe *p)
{
	uint64_t a = frame_deadline(p), b = vt_batch_deadline(p->batch);
	return a < b ? a : b;
}

static void on_marker(void *data, const struct vt_marker *m)
{
	struct vt_pipe *p = data;
	struct vt_op op = {.kind = VT_OP_MARKER, .t_ms = p->now, .marker = m};
	if (p->o.cb)
		p->o.cb(p->o.cb_data, &op);
}

static int take_frame(struct vt_pipe *p, uint64_t now)
{
	struct vt_frame f;
	int r = vt_screen_snapshot(p->screen, &f);
	if (r < 0)
		return r;
	p->dirty = false;
	p->sync_ends_seen = vt_screen_sync_ends(p->screen);
	p->frames++;
	struct vt_diff_result res;
	r = vt_diff_frame(p->diff, &f, &res);
	vt_frame_free(&f);
	if (r < 0)
		return r;
	struct vt_scan_input in = {
		.committed = (const char *const *)res.commit,
		.ncommitted = res.ncommit,
		.rows = res.rows,
		.wraps = res.wraps,
		.nrows = res.nrows,
		.now_ms = now,
	};
	p->now = now;
	r = vt_scan_frame(p->scan, &in, on_marker, p);
	int rb = vt_batch_push(p->batch, &res, now);
	return r < 0 ? r : rb;
}

int vt_pipe_tick(struct vt_pipe *p, uint64_t now_ms)
{
	int r = 0;
	if (p->dirty && now_ms >= frame_deadline(p))
		r = take_frame(p, now_ms);
	int rb = vt_batch_poll(p->batch, now_ms);
	return r < 0 ? r : rb;
}

int vt_pipe_end(struct vt_pipe *p, uint64_t now_ms)
{
	int r = 0;
	if (p->dirty)
		r = take_frame(p, now_ms);
	struct vt_diff_result res;
	int rd = vt_diff_end(p->diff, &res);
	if (rd < 0)
		return rd;
	int rb = vt_batch_end(p->batch, &res, now_ms);
	return r < 0 ? r : rb;
}

struct vt_screen *vt_pipe_screen(struct vt_pipe *p)
{
	return p->screen;
}

uint64_t vt_pipe_frames(const struct vt_pipe *p)
{
	return p->frames;
}
