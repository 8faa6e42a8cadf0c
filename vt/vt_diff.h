/*
 * vt_diff.h — the diff engine: turns successive frames into transcript
 * operations for the chat.
 *
 *   commit: lines that are final. They left the view by real scrolling
 *           (inline programs, shells: frame.scrolled), by an in-place redraw
 *           that moved rows up (Claude Code's alternate screen: detected by
 *           matching rows of the previous frame at a shifted position), or by
 *           a clear of the main screen. Rows learned to be fixed status rows
 *           (input box, mode line) are never committed.
 *   live:   the current screen text (leading/trailing blank rows trimmed).
 *   seal:   the live text sent so far is final (the alternate screen was
 *           left); the next live text starts a new live post.
 *
 * Each line reaches the committed history at most once and in order: rows
 * that only repaint are not recommitted, and after a clear, resize,
 * alternate-screen entry or backward scroll a replay guard drops a reprint
 * of lines already committed (three or more consecutive matching lines).
 *
 * Ownership: vt_diff owns its state; a vt_diff_result is filled by the
 * engine and released with vt_diff_result_free (strings are malloc'ed).
 * Errors: 0 or negative errno. No I/O and no clock reads.
 */
#ifndef VT_DIFF_H
#define VT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vt_frame.h"

struct vt_diff;

struct vt_diff_result {
	bool seal;        /* seal the live post before anything below */
	char **commit;    /* lines to append to history, in order */
	size_t ncommit;
	char *live;       /* current live text (never NULL after a frame) */
	bool final;       /* set by vt_diff_end: the commit is the final content */
	/* Screen rows as text (for the scanner), owned by the engine and
	 * valid until the next call. */
	const char *const *rows;
	const bool *wraps;
	size_t nrows;
};

int vt_diff_new(struct vt_diff **out);
void vt_diff_free(struct vt_diff *d);

/* Diffs frame f against the previous one. */
int vt_diff_frame(struct vt_diff *d, const struct vt_frame *f,
		  struct vt_diff_result *res);

/* The stream ended: commits what is left on the main screen (except fixed
 * rows), or seals the live post when the program ended in the alternate
 * screen. res->final is set. */
int vt_diff_end(struct vt_diff *d, struct vt_diff_result *res);

void vt_diff_result_free(struct vt_diff_result *res);

/* Exposed for tests: is this text learned as a fixed status row? */
bool vt_diff_is_fixed(const struct vt_diff *d, const char *row);

#endif
