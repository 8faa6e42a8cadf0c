/* vt_ansi.c — renders a frame as an ANSI byte string that repaints a
 * terminal of the same size (used by `smrelay attach`). */
#include "vt_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_buf.h"
#include "vt_filter.h"
#include "vt_utf8.h"

static void buf_uint(struct vt_buf *b, unsigned v)
{
	char tmp[16];
	int n = snprintf(tmp, sizeof(tmp), "%u", v);
	vt_buf_put(b, tmp, (size_t)n);
}

/* The part of a cell that SGR controls. */
struct style {
	uint8_t attrs;
	int8_t fg_code, bg_code;
	uint8_t fg[3], bg[3];
};

static const struct style default_style = {
	.fg_code = VT_COLOR_DEFAULT,
	.bg_code = VT_COLOR_DEFAULT,
};

static struct style cell_style(const struct vt_cell *c)
{
	struct style s = { c->attrs, c->fg_code, c->bg_code, { 0 }, { 0 } };
	memcpy(s.fg, c->fg, 3);
	memcpy(s.bg, c->bg, 3);
	return s;
}

/* RGB bytes only matter for VT_COLOR_RGB; fg[]/bg[] are filled for every
 * code, so comparing them otherwise would emit needless SGR. */
static bool same_color(int8_t ca, const uint8_t *a, int8_t cb, const uint8_t *b)
{
	return ca == cb && (ca != VT_COLOR_RGB || memcmp(a, b, 3) == 0);
}

/* Appends ";<code>" (no ';' before the first parameter). */
static void sgr_param(struct vt_buf *b, bool *first, unsigned code)
{
	if (!*first)
		vt_buf_put(b, ";", 1);
	*first = false;
	buf_uint(b, code);
}

/* base is 30 (fg) or 40 (bg); bright palette entries use base + 60. */
static void sgr_color(struct vt_buf *b, bool *first, unsigned base, int8_t code,
		      const uint8_t *rgb)
{
	if (code >= 0 && code < 8) {
		sgr_param(b, first, base + (unsigned)code);
	} else if (code >= 8 && code < 16) {
		sgr_param(b, first, base + 60 + (unsigned)code - 8);
	} else if (code == VT_COLOR_RGB) {
		sgr_param(b, first, base + 8);
		sgr_param(b, first, 2);
		for (int i = 0; i < 3; i++)
			sgr_param(b, first, rgb[i]);
	} else {
		sgr_param(b, first, base + 9); /* default (or out of range) */
	}
}

/* Moves the terminal from style *cur to *want with one SGR sequence, or
 * none when nothing visible changes. */
static void sgr_update(struct vt_buf *b, struct style *cur, const struct style *want)
{
	static const struct { uint8_t bit; unsigned code; } attr_codes[] = {
		{ VT_ATTR_BOLD, 1 },  { VT_ATTR_ITALIC, 3 }, { VT_ATTR_UNDERLINE, 4 },
		{ VT_ATTR_BLINK, 5 }, { VT_ATTR_INVERSE, 7 },
	};
	bool fg_same = same_color(cur->fg_code, cur->fg, want->fg_code, want->fg);
	bool bg_same = same_color(cur->bg_code, cur->bg, want->bg_code, want->bg);
	if (cur->attrs == want->attrs && fg_same && bg_same)
		return;

	bool first = true;
	vt_buf_str(b, "\x1b[");
	/* Turning one attribute off has no portable single code (22 also drops
	 * dim, etc.), so any removal resets and rebuilds. */
	if (cur->attrs & ~want->attrs) {
		sgr_param(b, &first, 0);
		*cur = default_style;
		fg_same = same_color(cur->fg_code, cur->fg, want->fg_code, want->fg);
		bg_same = same_color(cur->bg_code, cur->bg, want->bg_code, want->bg);
	}
	for (size_t i = 0; i < sizeof(attr_codes) / sizeof(attr_codes[0]); i++)
		if ((want->attrs & attr_codes[i].bit) && !(cur->attrs & attr_codes[i].bit))
			sgr_param(b, &first, attr_codes[i].code);
	if (!fg_same)
		sgr_color(b, &first, 30, want->fg_code, want->fg);
	if (!bg_same)
		sgr_color(b, &first, 40, want->bg_code, want->bg);
	vt_buf_put(b, "m", 1);
	*cur = *want;
}

static bool is_blank_ch(uint32_t ch)
{
	return ch == 0 || ch == ' ';
}

/* A cell that looks different from what ESC[2J leaves behind (a default
 * blank): text, a coloured background, or underline/inverse on a space. */
static bool cell_visible(const struct vt_cell *c)
{
	return !is_blank_ch(c->ch) || c->bg_code != VT_COLOR_DEFAULT ||
	       (c->attrs & (VT_ATTR_UNDERLINE | VT_ATTR_INVERSE));
}

/* Control characters in a cell would be executed by the attaching
 * terminal, not displayed; never pass them through. */
static uint32_t printable(uint32_t ch)
{
	if (ch == 0)
		return ' ';
	if (ch < 0x20 || (ch >= 0x7f && ch < 0xa0))
		return 0xfffd;
	return ch;
}

static void render_row(struct vt_buf *b, const struct vt_frame *f, unsigned y,
		       struct style *cur)
{
	const struct vt_cell *c = vt_frame_cell(f, 0, y);
	unsigned end = 0;
	for (unsigned x = 0; x < f->cols; x++)
		if (c[x].width != 0 && cell_visible(&c[x]))
			end = x + 1;
	if (end == 0)
		return; /* ESC[2J already left this row blank */

	/* Rows are painted as plain spaces rather than ESC[K so a coloured tail
	 * does not rely on the terminal supporting background colour erase. */
	vt_buf_str(b, "\x1b[");
	buf_uint(b, y + 1);
	vt_buf_str(b, ";1H");
	/* tx is the terminal's column; it tells us which cells a wide glyph
	 * already covered, so a malformed frame cannot shift the rest of the
	 * row. */
	unsigned tx = 0;
	for (unsigned x = 0; x < end; x++) {
		if (x < tx)
			continue; /* right half of a wide glyph */
		struct style want = cell_style(&c[x]);
		sgr_update(b, cur, &want);
		uint32_t ch = printable(c[x].ch);
		unsigned w = c[x].width == 2 ? 2 : 1;
		if (w == 2 && x + 1 >= f->cols) {
			/* A wide glyph in the last column would wrap (and scroll
			 * on the last row); draw a blank instead. */
			ch = ' ';
			w = 1;
		}
		char u8[4];
		vt_buf_put(b, u8, vt_utf8_put(ch, u8));
		tx = x + w;
	}
}

int vt_frame_ansi(const struct vt_frame *f, char **out, size_t *len)
{
	if (!f || !out || !f->cells || f->cols == 0 || f->rows == 0)
		return -EINVAL;
	*out = NULL;

	struct vt_buf b = { 0 };
	/* Synchronized update so the repaint appears at once; reset SGR before
	 * ESC[2J so the clear uses the default background. */
	vt_buf_str(&b, "\x1b[?2026h\x1b[0m\x1b[?25l\x1b[H\x1b[2J");
	struct style cur = default_style;
	for (unsigned y = 0; y < f->rows; y++)
		render_row(&b, f, y, &cur);
	vt_buf_str(&b, "\x1b[0m");

	/* The cursor may sit one past the last column (pending wrap); clamp. */
	unsigned cx = f->cursor_x < f->cols ? f->cursor_x : f->cols - 1;
	unsigned cy = f->cursor_y < f->rows ? f->cursor_y : f->rows - 1;
	vt_buf_str(&b, "\x1b[");
	buf_uint(&b, cy + 1);
	vt_buf_put(&b, ";", 1);
	buf_uint(&b, cx + 1);
	vt_buf_put(&b, "H", 1);
	vt_buf_str(&b, f->cursor_visible ? "\x1b[?25h" : "\x1b[?25l");
	vt_buf_str(&b, "\x1b[?2026l");

	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	if (len)
		*len = b.n;
	return 0;
}

int vt_modes_ansi(uint32_t modes, char **out, size_t *len)
{
	if (!out || !len)
		return -EINVAL;
	*out = NULL;
	*len = 0;
	static const struct {
		uint32_t bit;
		const char *on;
	} map[] = {
		{VT_MODE_APP_CURSOR, "\x1b[?1h"},
		{VT_MODE_APP_KEYPAD, "\x1b="},
		{VT_MODE_BRACKETED_PASTE, "\x1b[?2004h"},
		{VT_MODE_FOCUS, "\x1b[?1004h"},
		{VT_MODE_MOUSE_X10, "\x1b[?9h"},
		{VT_MODE_MOUSE_NORMAL, "\x1b[?1000h"},
		{VT_MODE_MOUSE_BUTTON, "\x1b[?1002h"},
		{VT_MODE_MOUSE_ANY, "\x1b[?1003h"},
		{VT_MODE_MOUSE_UTF8, "\x1b[?1005h"},
		{VT_MODE_MOUSE_SGR, "\x1b[?1006h"},
		{VT_MODE_MOUSE_URXVT, "\x1b[?1015h"},
		{VT_MODE_MOUSE_SGR_PIXELS, "\x1b[?1016h"},
		{VT_MODE_REVERSE_VIDEO, "\x1b[?5h"},
		{VT_MODE_ORIGIN, "\x1b[?6h"},
		{VT_MODE_NO_AUTOWRAP, "\x1b[?7l"},
		{VT_MODE_INSERT, "\x1b[4h"},
	};
	struct vt_buf b = {0};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (modes & map[i].bit)
			vt_buf_str(&b, map[i].on);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	if (!b.p) { /* nothing to set: an empty, still freeable string */
		b.p = calloc(1, 1);
		if (!b.p)
			return -ENOMEM;
	}
	*out = b.p;
	*len = b.n;
	return 0;
}
