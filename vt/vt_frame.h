/*
 * vt_frame.h — one immutable snapshot of a virtual screen (cells, cursor,
 * screen mode) plus the lines that scrolled off the top since the previous
 * snapshot.
 *
 * Ownership: a frame is filled by vt_screen_snapshot() and owned by the
 * caller; vt_frame_free() releases everything it points to. Frames are plain
 * data: reading them never touches libtsm.
 * Errors: functions return 0 or a negative errno-style code.
 */
#ifndef VT_FRAME_H
#define VT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cell attribute bits (vt_cell.attrs). */
enum {
	VT_ATTR_BOLD = 1u << 0,
	VT_ATTR_ITALIC = 1u << 1,
	VT_ATTR_UNDERLINE = 1u << 2,
	VT_ATTR_INVERSE = 1u << 3,
	VT_ATTR_BLINK = 1u << 4,
};

/* Colour codes in vt_cell.fg_code / bg_code. */
enum {
	VT_COLOR_RGB = -1,     /* use fg[] / bg[] */
	VT_COLOR_DEFAULT = -2, /* the terminal's default colour */
	/* 0..15: the 16 ANSI palette entries */
};

struct vt_cell {
	uint32_t ch;     /* code point; 0 = blank (never written or erased) */
	uint8_t width;   /* 1 normal, 2 wide glyph, 0 right half of a wide glyph */
	uint8_t attrs;   /* VT_ATTR_* (cursor inversion already undone) */
	int8_t fg_code;  /* VT_COLOR_* or 0..15 */
	int8_t bg_code;
	uint8_t fg[3];   /* resolved RGB, valid for any fg_code */
	uint8_t bg[3];
};

struct vt_frame {
	unsigned cols, rows;
	unsigned cursor_x, cursor_y;
	bool cursor_visible;
	bool alt_screen;
	struct vt_cell *cells; /* rows * cols, row-major */
	uint64_t *row_hash;    /* per row: hash of its text (0 for a blank row) */
	uint16_t *row_end;     /* per row: columns up to the last non-blank cell */
	/* Lines that left the top of the main screen by real scrolling since the
	 * previous snapshot, oldest first, as trimmed UTF-8 text. */
	char **scrolled;
	size_t nscrolled;
	/* When set, the scrolled strings live in this one block (freed with
	 * the frame); otherwise each string is its own allocation. */
	char *scrolled_mem;
	/* Modes libtsm does not track, copied from the pre-filter (see vt_filter.h). */
	uint32_t modes;
	/* What happened since the previous snapshot: VT_FRAME_* bits. */
	unsigned events;
	/* With VT_FRAME_CLEARED: how many of `scrolled` left before the first
	 * clear (the rest scrolled after it). */
	size_t scrolled_before_clear;
};

enum {
	VT_FRAME_RESIZED = 1u << 0, /* the size changed: the program will repaint */
	VT_FRAME_CLEARED = 1u << 1, /* CSI 2 J or CSI 3 J on the main screen */
	VT_FRAME_RESET = 1u << 2,   /* RIS / DECSTR */
};

/* Allocates the cell and row arrays for cols x rows (contents zeroed). */
int vt_frame_alloc(struct vt_frame *f, unsigned cols, unsigned rows);
void vt_frame_free(struct vt_frame *f);

static inline const struct vt_cell *vt_frame_cell(const struct vt_frame *f,
						  unsigned x, unsigned y)
{
	return &f->cells[(size_t)y * f->cols + x];
}

/* Maximum bytes vt_frame_row_text() writes for a frame (including NUL). */
static inline size_t vt_frame_row_cap(const struct vt_frame *f)
{
	return (size_t)f->cols * 4 + 1;
}

/* Writes row `row` as UTF-8 into buf (trailing blanks trimmed, wide glyphs
 * once, blanks inside the row as spaces), NUL-terminated. Returns the byte
 * length, or -EINVAL / -ENOSPC. */
int vt_frame_row_text(const struct vt_frame *f, unsigned row, char *buf,
		      size_t cap);

/* True when row `row` is filled to its last column and another row follows:
 * the best available sign (libtsm 4.0.2 keeps no wrap flag) that the text
 * continues on the next row. */
bool vt_frame_row_wraps(const struct vt_frame *f, unsigned row);

/* Renders the whole screen as text: one row per line, trailing blanks
 * trimmed, exactly `rows` lines each ending in '\n'. *out is malloc'ed and
 * owned by the caller. */
int vt_frame_text(const struct vt_frame *f, char **out, size_t *len);

/* Renders the frame as an ANSI byte string that repaints a terminal of the
 * same size: reset, clear, every row with its attributes and colours, then
 * cursor position and visibility. The caller frees *out. */
int vt_frame_ansi(const struct vt_frame *f, char **out, size_t *len);

/* The ANSI that puts a terminal fresh from a reset into the input and
 * output modes `modes` (VT_MODE_* from vt_filter.h) describes: cursor and
 * keypad keys, bracketed paste, focus events, mouse reporting, autowrap,
 * origin, insert, reverse video. Sent to an attaching terminal before the
 * repaint, so its keys are encoded the way the program expects. The
 * alternate screen is not entered (the repaint draws the visible screen). */
int vt_modes_ansi(uint32_t modes, char **out, size_t *len);

#endif
