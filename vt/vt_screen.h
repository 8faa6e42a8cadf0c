/*
 * vt_screen.h — a virtual terminal: libtsm (screen + parser) behind the
 * vt_filter pre-filter, with query answers, a bounded scrollback of text
 * lines and frame snapshots.
 *
 * Ownership: vt_screen_new allocates; vt_screen_free releases. The reply
 * callback receives bytes that must be written back to the program (PTY);
 * the buffer is valid only during the call.
 * Errors: 0 or negative errno.
 * No I/O and no clock reads.
 */
#ifndef VT_SCREEN_H
#define VT_SCREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_frame.h"

struct vt_screen;

typedef void (*vt_reply_fn)(void *data, const char *bytes, size_t len);

struct vt_screen_opts {
	unsigned cols, rows;       /* 0 → 80 x 24 */
	unsigned scrollback_lines; /* lines kept as text; 0 → 10000 */
	vt_reply_fn reply;         /* may be NULL: answers are dropped */
	void *reply_data;
};

int vt_screen_new(struct vt_screen **out, const struct vt_screen_opts *opts);
void vt_screen_free(struct vt_screen *s);

/* Feeds program output. Partial sequences are kept for the next call. */
void vt_screen_feed(struct vt_screen *s, const char *buf, size_t len);

/* Changes the size (no reflow). Rows a shrink pushes off the top become
 * scrolled lines of the next snapshot, which is marked VT_FRAME_RESIZED. */
int vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows);

/* Takes a snapshot into *out (allocated here; vt_frame_free releases it).
 * out->scrolled receives the lines scrolled off since the last snapshot. */
int vt_screen_snapshot(struct vt_screen *s, struct vt_frame *out);

/* The current screen without taking a frame: nothing is handed over
 * (scrolled lines and events stay for the next vt_screen_snapshot), so any
 * reader (an attach repaint, `smrelay screen`) may call it at any time.
 * out->scrolled is empty and out->events 0; vt_frame_free releases it. */
int vt_screen_peek(struct vt_screen *s, struct vt_frame *out);

unsigned vt_screen_cols(const struct vt_screen *s);
unsigned vt_screen_rows(const struct vt_screen *s);
uint32_t vt_screen_modes(const struct vt_screen *s);      /* VT_MODE_* */
unsigned vt_screen_kitty_flags(const struct vt_screen *s);
bool vt_screen_alt_active(const struct vt_screen *s);
/* Bytes fed since the last snapshot (0 → a snapshot would show nothing new). */
uint64_t vt_screen_pending_bytes(const struct vt_screen *s);
/* Synchronized-output ends (?2026l) seen so far. */
uint64_t vt_screen_sync_ends(const struct vt_screen *s);

/* The bounded text scrollback (oldest first); CSI 3 J empties it. */
size_t vt_screen_history_len(const struct vt_screen *s);
const char *vt_screen_history_line(const struct vt_screen *s, size_t i);

#endif
