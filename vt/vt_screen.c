/* vt_screen.c — libtsm behind the pre-filter; snapshots and scrollback. */
#include "vt_screen.h"

#include <errno.h>
#include <limits.h>
#include <libtsm.h>
#include <stdlib.h>
#include <string.h>

#include "vt_filter.h"
#include "vt_utf8.h"

/* libtsm 4.0.2 exposes no scrollback line count, so we empty its scrollback
 * into our own after every HARVEST_BYTES bytes it parses; its own buffer only
 * has to hold what scrolls in between (one line per byte at most, except
 * that a hostile stream of CSI S scrolls a screen per 4 bytes: beyond
 * TSM_SB_MAX such lines are lost). */
#define HARVEST_BYTES 512u
#define TSM_SB_MAX 4096u

struct vt_screen {
	struct tsm_screen *scr;
	struct tsm_vte *vte;
	struct vt_filter filt;
	vt_reply_fn reply;
	void *reply_data;

	char **hist; /* ring of text lines */
	size_t hist_cap, hist_head, hist_len;

	/* Lines scrolled off since the last snapshot, packed in one buffer
	 * (one allocation per frame, not per line). */
	char *pend_buf;
	size_t pend_len, pend_cap;
	size_t *pend_off;
	size_t npending, pend_off_cap;

	unsigned events;
	size_t scrolled_before_clear;
	uint64_t pending_bytes;
	uint64_t bytes_since_harvest;
	bool harvest_alt;          /* the last harvest found the alternate screen */
	uint64_t harvest_switches; /* filt.alt_switches at the last harvest */
	uint64_t sync_ends;
};

/* ---- scrollback ---------------------------------------------------- */

static void hist_push(struct vt_screen *s, char *line)
{
	size_t idx = (s->hist_head + s->hist_len) % s->hist_cap;
	if (s->hist_len == s->hist_cap) {
		free(s->hist[s->hist_head]);
		s->hist_head = (s->hist_head + 1) % s->hist_cap;
		idx = (s->hist_head + s->hist_len - 1) % s->hist_cap;
	} else {
		s->hist_len++;
	}
	s->hist[idx] = line;
}

static void hist_clear(struct vt_screen *s)
{
	for (size_t i = 0; i < s->hist_len; i++)
		free(s->hist[(s->hist_head + i) % s->hist_cap]);
	s->hist_head = s->hist_len = 0;
}

/* Makes room for one more line of up to n bytes; returns where to write. */
static char *pending_reserve(struct vt_screen *s, size_t n)
{
	if (s->npending == s->pend_off_cap) {
		size_t cap = s->pend_off_cap ? s->pend_off_cap * 2 : 64;
		size_t *o = realloc(s->pend_off, cap * sizeof(*o));
		if (!o)
			return NULL;
		s->pend_off = o;
		s->pend_off_cap = cap;
	}
	if (s->pend_len + n + 1 > s->pend_cap) {
		size_t cap = s->pend_cap ? s->pend_cap : 4096;
		while (cap < s->pend_len + n + 1)
			cap *= 2;
		char *b = realloc(s->pend_buf, cap);
		if (!b)
			return NULL;
		s->pend_buf = b;
		s->pend_cap = cap;
	}
	return s->pend_buf + s->pend_len;
}

static void pending_drop(struct vt_screen *s)
{
	free(s->pend_buf);
	free(s->pend_off);
	s->pend_buf = NULL;
	s->pend_off = NULL;
	s->pend_len = s->pend_cap = s->npending = s->pend_off_cap = 0;
}

/* Turns one line of tsm_screen_selection_copy() output into trimmed text:
 * libtsm writes blank cells as NUL bytes, including the right half of a
 * wide glyph (which we drop). */
static size_t clean_line(const char *p, size_t n, char *out)
{
	size_t o = 0;
	bool prev_wide = false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x80) { /* the common case */
			out[o++] = (char)c;
			prev_wide = false;
			i++;
			continue;
		}
		if (c == 0) {
			if (!prev_wide)
				out[o++] = ' ';
			prev_wide = false;
			i++;
			continue;
		}
		uint32_t cp;
		size_t len = vt_utf8_decode(p + i, n - i, &cp);
		prev_wide = tsm_ucs4_get_width(cp) == 2;
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

/* Moves every line in libtsm's scrollback into pending + history. libtsm
 * 4.0.2 exposes no scrollback line count, so a selection from the oldest
 * scrollback line to the first cell of the screen is copied: it holds one
 * '\n'-terminated line per scrollback line, then that one cell. */
static void harvest(struct vt_screen *s)
{
	s->bytes_since_harvest = 0;
	/* The alternate screen never scrolls into libtsm's scrollback: while
	 * it stayed active since the last harvest there is nothing to collect. */
	bool alt = tsm_screen_get_flags(s->scr) & TSM_SCREEN_ALTERNATE;
	bool same = s->harvest_alt && alt && s->harvest_switches == s->filt.alt_switches;
	s->harvest_alt = alt;
	s->harvest_switches = s->filt.alt_switches;
	if (same)
		return;
	tsm_screen_sb_up(s->scr, UINT_MAX);
	tsm_screen_selection_start(s->scr, 0, 0);
	tsm_screen_sb_reset(s->scr);
	tsm_screen_selection_target(s->scr, 0, 0);
	char *text = NULL;
	int n = tsm_screen_selection_copy(s->scr, &text);
	tsm_screen_selection_reset(s->scr);
	if (n < 0 || !text) {
		free(text);
		tsm_screen_clear_sb(s->scr);
		return;
	}
	size_t nsb = 0;
	for (int i = 0; i < n; i++)
		nsb += text[i] == '\n';
	const char *p = text, *end = text + n;
	for (size_t i = 0; i < nsb && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		char *line = pending_reserve(s, (size_t)(nl - p));
		if (line) {
			size_t len = clean_line(p, (size_t)(nl - p), line);
			s->pend_off[s->npending++] = s->pend_len;
			s->pend_len += len + 1;
			char *copy = strdup(line);
			if (copy)
				hist_push(s, copy);
		}
		p = nl + 1;
	}
	free(text);
	if (nsb)
		tsm_screen_clear_sb(s->scr);
}

/* ---- callbacks ------------------------------------------------------- */

/* Everything libtsm parses comes through here, REP expansions included, so
 * this is where its bounded scrollback is emptied often enough: one byte
 * scrolls at most one line (CSI S aside, which scrolls at most a screen). */
static void filter_out(void *data, const char *b, size_t n)
{
	struct vt_screen *s = data;
	while (n > 0) {
		size_t room = HARVEST_BYTES - s->bytes_since_harvest;
		size_t k = n < room ? n : room;
		tsm_vte_input(s->vte, b, k);
		s->bytes_since_harvest += k;
		b += k;
		n -= k;
		if (s->bytes_since_harvest >= HARVEST_BYTES)
			harvest(s);
	}
}

static void send_reply(void *data, const char *b, size_t n)
{
	struct vt_screen *s = data;
	if (s->reply)
		s->reply(s->reply_data, b, n);
}

/* Records the first clear of the main screen since the last snapshot, after
 * collecting what scrolled off before it. */
static void note_clear(struct vt_screen *s)
{
	harvest(s);
	if (!(s->events & VT_FRAME_CLEARED))
		s->scrolled_before_clear = s->npending;
	s->events |= VT_FRAME_CLEARED;
}

static void filter_event(void *data, enum vt_filter_event ev)
{
	struct vt_screen *s = data;
	bool alt = tsm_screen_get_flags(s->scr) & TSM_SCREEN_ALTERNATE;
	switch (ev) {
	case VT_FILTER_CLEAR_SCROLLBACK:
		/* Lines that scrolled off before the erase are still output
		 * the transcript must keep: collect them first. */
		note_clear(s);
		hist_clear(s);
		tsm_screen_clear_sb(s->scr);
		break;
	case VT_FILTER_CLEAR_SCREEN:
		if (!alt)
			note_clear(s);
		break;
	case VT_FILTER_SYNC_END:
		s->sync_ends++;
		break;
	case VT_FILTER_RESET:
		harvest(s); /* RIS empties libtsm's scrollback */
		s->events |= VT_FRAME_RESET;
		break;
	case VT_FILTER_SYNC_BEGIN:
		break;
	}
}

static const struct vt_filter_ops filter_ops = {
	.out = filter_out,
	.reply = send_reply,
	.event = filter_event,
};

static void tsm_write(struct tsm_vte *vte, const char *u8, size_t len,
		      void *data)
{
	(void)vte;
	send_reply(data, u8, len);
}

/* OSC 10/11/12 colour queries: answer a fixed dark theme so programs that
 * wait for the answer (Claude Code asks for the background) never stall. */
static void tsm_osc(struct tsm_vte *vte, const char *u8, size_t len, void *data)
{
	(void)vte;
	static const struct {
		const char *query, *answer;
	} colours[] = {
		{"10;?", "\x1b]10;rgb:e5e5/e5e5/e5e5\x1b\\"},
		{"11;?", "\x1b]11;rgb:0000/0000/0000\x1b\\"},
		{"12;?", "\x1b]12;rgb:e5e5/e5e5/e5e5\x1b\\"},
	};
	for (size_t i = 0; i < sizeof(colours) / sizeof(colours[0]); i++) {
		if (len == strlen(colours[i].query) &&
		    memcmp(u8, colours[i].query, len) == 0)
			send_reply(data, colours[i].answer,
				   strlen(colours[i].answer));
	}
}

/* ---- lifecycle --------------------------------------------------------- */

int vt_screen_new(struct vt_screen **out, const struct vt_screen_opts *opts)
{
	struct vt_screen_opts o = opts ? *opts : (struct vt_screen_opts){0};
	if (!o.cols || !o.rows) {
		o.cols = 80;
		o.rows = 24;
	}
	if (o.cols < 2 || o.cols > 4096 || o.rows > 4096)
		return -EINVAL; /* libtsm overflows a buffer with 1 column */
	if (!o.scrollback_lines)
		o.scrollback_lines = 10000;
	struct vt_screen *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->reply = o.reply;
	s->reply_data = o.reply_data;
	s->hist_cap = o.scrollback_lines;
	s->hist = calloc(s->hist_cap, sizeof(*s->hist));
	int r = -ENOMEM;
	if (!s->hist)
		goto fail;
	if ((r = tsm_screen_new(&s->scr, NULL, NULL)) < 0)
		goto fail;
	if ((r = tsm_screen_resize(s->scr, o.cols, o.rows)) < 0)
		goto fail;
	tsm_screen_set_max_sb(s->scr, TSM_SB_MAX);
	if ((r = tsm_vte_new(&s->vte, s->scr, tsm_write, s, NULL, NULL)) < 0)
		goto fail;
	tsm_vte_set_osc_cb(s->vte, tsm_osc, s);
	vt_filter_init(&s->filt, &filter_ops, s);
	*out = s;
	return 0;
fail:
	vt_screen_free(s);
	return r < 0 ? r : -ENOMEM;
}

void vt_screen_free(struct vt_screen *s)
{
	if (!s)
		return;
	if (s->vte)
		tsm_vte_unref(s->vte);
	if (s->scr) {
		tsm_screen_clear_sb(s->scr); /* unref does not free scrollback */
		tsm_screen_unref(s->scr);
	}
	if (s->hist)
		hist_clear(s);
	free(s->hist);
	pending_drop(s);
	free(s);
}

/* ---- feeding ------------------------------------------------------------- */

void vt_screen_feed(struct vt_screen *s, const char *buf, size_t len)
{
	s->pending_bytes += len;
	vt_filter_feed(&s->filt, buf, len);
}

int vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows)
{
	if (!s || cols < 2 || !rows || cols > 4096 || rows > 4096)
		return -EINVAL; /* libtsm overflows a buffer with 1 column */
	if (cols == tsm_screen_get_width(s->scr) &&
	    rows == tsm_screen_get_height(s->scr))
		return 0;
	harvest(s); /* real output that scrolled before the resize */
	int r = tsm_screen_resize(s->scr, cols, rows);
	/* Rows a shrink pushes off the top left the view: they are history. */
	s->harvest_alt = false;
	harvest(s);
	s->events |= VT_FRAME_RESIZED;
	return r;
}

/* ---- snapshots ------------------------------------------------------------ */

struct draw_ctx {
	struct vt_frame *f;
	unsigned cx, cy;
	bool cursor_drawn;
};

static int8_t colour_code(int8_t code, int8_t dflt)
{
	if (code < 0)
		return VT_COLOR_RGB;
	if (code == dflt)
		return VT_COLOR_DEFAULT;
	return code < 16 ? code : VT_COLOR_DEFAULT;
}

static int draw_cell(struct tsm_screen *con, uint64_t id, const uint32_t *ch,
		     size_t len, unsigned width, unsigned x, unsigned y,
		     const struct tsm_screen_attr *a, tsm_age_t age, void *data)
{
	(void)con;
	(void)id;
	(void)age;
	struct draw_ctx *d = data;
	struct vt_frame *f = d->f;
	if (x >= f->cols || y >= f->rows)
		return 0;
	struct vt_cell *c = &f->cells[(size_t)y * f->cols + x];
	c->ch = len ? ch[0] : 0;
	c->width = (uint8_t)(width > 2 ? 2 : width);
	if (width == 0 && (x == 0 || c[-1].width != 2)) {
		/* the right half of a wide glyph whose left half was
		 * overwritten: a blank, as other terminals show it */
		c->ch = 0;
		c->width = 1;
	} else if (width != 0 && x > 0 && c[-1].width == 2) {
		/* the right half was overwritten: the left half is a blank */
		c[-1].ch = 0;
		c[-1].width = 1;
	}
	bool inverse = a->inverse;
	if (d->cursor_drawn && x == d->cx && y == d->cy)
		inverse = !inverse; /* libtsm bakes the cursor in as inverse */
	c->attrs = (uint8_t)((a->bold ? VT_ATTR_BOLD : 0) |
			     (a->italic ? VT_ATTR_ITALIC : 0) |
			     (a->underline ? VT_ATTR_UNDERLINE : 0) |
			     (inverse ? VT_ATTR_INVERSE : 0) |
			     (a->blink ? VT_ATTR_BLINK : 0));
	c->fg_code = colour_code(a->fccode, TSM_COLOR_FOREGROUND);
	c->bg_code = colour_code(a->bccode, TSM_COLOR_BACKGROUND);
	c->fg[0] = a->fr;
	c->fg[1] = a->fg;
	c->fg[2] = a->fb;
	c->bg[0] = a->br;
	c->bg[1] = a->bg;
	c->bg[2] = a->bb;
	if (c->ch && c->ch != ' ' && f->row_end[y] < x + 1)
		f->row_end[y] = (uint16_t)(x + (width == 2 ? 2 : 1));
	return 0;
}

static void hash_rows(struct vt_frame *f)
{
	for (unsigned y = 0; y < f->rows; y++) {
		const struct vt_cell *c = vt_frame_cell(f, 0, y);
		unsigned end = f->row_end[y] > f->cols ? f->cols : f->row_end[y];
		while (end > 0 && (c[end - 1].ch == 0 || c[end - 1].ch == ' ') &&
		       c[end - 1].width != 0)
			end--; /* a wide glyph blanked after it was counted */
		f->row_end[y] = (uint16_t)end;
		uint64_t h = 0xcbf29ce484222325ull;
		for (unsigned x = 0; x < f->row_end[y]; x++) {
			h ^= (uint64_t)c[x].ch | ((uint64_t)c[x].width << 32);
			h *= 0x100000001b3ull;
		}
		f->row_hash[y] = f->row_end[y] ? (h | 1) : 0;
	}
}

/* Draws the screen's cells, cursor and modes into a new frame. */
static int draw_frame(struct vt_screen *s, struct vt_frame *out)
{
	unsigned cols = tsm_screen_get_width(s->scr);
	unsigned rows = tsm_screen_get_height(s->scr);
	int r = vt_frame_alloc(out, cols, rows);
	if (r < 0)
		return r;
	unsigned flags = tsm_screen_get_flags(s->scr);
	struct draw_ctx d = {
		.f = out,
		.cx = tsm_screen_get_cursor_x(s->scr),
		.cy = tsm_screen_get_cursor_y(s->scr),
		.cursor_drawn = !(flags & TSM_SCREEN_HIDE_CURSOR),
	};
	if (d.cx >= cols)
		d.cx = cols - 1;
	if (d.cy >= rows)
		d.cy = rows - 1;
	tsm_screen_draw(s->scr, draw_cell, &d);
	hash_rows(out);
	out->cursor_x = d.cx;
	out->cursor_y = d.cy;
	out->cursor_visible = d.cursor_drawn;
	out->alt_screen = flags & TSM_SCREEN_ALTERNATE;
	out->modes = s->filt.modes;
	return 0;
}

int vt_screen_peek(struct vt_screen *s, struct vt_frame *out)
{
	if (!s || !out)
		return -EINVAL;
	return draw_frame(s, out);
}

int vt_screen_snapshot(struct vt_screen *s, struct vt_frame *out)
{
	if (!s || !out)
		return -EINVAL;
	harvest(s);
	int r = draw_frame(s, out);
	if (r < 0)
		return r;
	out->events = s->events;
	out->scrolled_before_clear = s->scrolled_before_clear;
	s->scrolled_before_clear = 0;
	if (s->npending) {
		out->scrolled = malloc(s->npending * sizeof(*out->scrolled));
		if (!out->scrolled) {
			vt_frame_free(out);
			return -ENOMEM;
		}
		for (size_t i = 0; i < s->npending; i++)
			out->scrolled[i] = s->pend_buf + s->pend_off[i];
		out->nscrolled = s->npending;
		out->scrolled_mem = s->pend_buf;
		s->pend_buf = NULL;
		s->pend_len = s->pend_cap = 0;
		s->npending = 0;
	}
	s->events = 0;
	s->pending_bytes = 0;
	return 0;
}

/* ---- accessors ----------------------------------------------------------- */

unsigned vt_screen_cols(const struct vt_screen *s)
{
	return tsm_screen_get_width(s->scr);
}

unsigned vt_screen_rows(const struct vt_screen *s)
{
	return tsm_screen_get_height(s->scr);
}

uint32_t vt_screen_modes(const struct vt_screen *s)
{
	return s->filt.modes;
}

unsigned vt_screen_kitty_flags(const struct vt_screen *s)
{
	return vt_filter_kitty_flags(&s->filt);
}

bool vt_screen_alt_active(const struct vt_screen *s)
{
	return tsm_screen_get_flags(s->scr) & TSM_SCREEN_ALTERNATE;
}

uint64_t vt_screen_pending_bytes(const struct vt_screen *s)
{
	return s->pending_bytes;
}

uint64_t vt_screen_sync_ends(const struct vt_screen *s)
{
	return s->sync_ends;
}

size_t vt_screen_history_len(const struct vt_screen *s)
{
	return s->hist_len;
}

const char *vt_screen_history_line(const struct vt_screen *s, size_t i)
{
	if (i >= s->hist_len)
		return NULL;
	return s->hist[(s->hist_head + i) % s->hist_cap];
}
