/*
 * vt_scan.h — finds marker occurrences (default `[NETWORK_REQUEST: host]`)
 * in rendered screen text with PCRE2 and reports each occurrence once.
 *
 * Input per frame: the lines that left the view since the previous call
 * (committed / scrolled off) and the current screen rows with their soft-wrap
 * flags. Rows joined by soft wraps are scanned as one logical line, so a
 * marker split by wrapping is found. Because the text is the rendered
 * screen, markers drawn with cursor moves between words are found too.
 *
 * Identity of an occurrence: (value, text of its logical line). An
 * occurrence still visible in the next frame, repainted at another row, or
 * scrolled off into the committed lines is the same occurrence and is not
 * reported again. An occurrence that vanishes without being committed is
 * remembered for `forget_ms` (a resize or a full repaint brings it back) and
 * then forgotten. A second identical line appearing while the first is still
 * known is a new occurrence.
 *
 * Ownership: vt_scan_new copies the patterns; markers passed to the callback
 * are owned by the scanner and valid only during the callback.
 * Errors: 0 or negative errno; pattern errors are described in `err`.
 * No I/O, no clock reads: time is passed in.
 */
#ifndef VT_SCAN_H
#define VT_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_SCAN_DEFAULT_PATTERN "\\[NETWORK_REQUEST:\\s*([^\\]\\s]+)\\s*\\]"

struct vt_scan;

struct vt_scan_opts {
	/* PCRE2 patterns; capture group 1 is the reported value. NULL or
	 * npatterns == 0 means the single default pattern. */
	const char *const *patterns;
	size_t npatterns;
	unsigned context_before; /* lines of context before the marker (default 3 when 0 and !context_set) */
	unsigned context_after;  /* lines after (default 1) */
	bool context_set;        /* use the two values above even if 0 */
	uint64_t forget_ms;      /* default 5000 when 0 */
};

struct vt_marker {
	const char *value;          /* capture group 1 */
	const char *line;           /* the logical line that holds it */
	const char *const *context; /* lines around it, the marker line included */
	size_t ncontext;
};

struct vt_scan_input {
	const char *const *committed; /* lines that left the view, oldest first */
	size_t ncommitted;
	const char *const *rows; /* current screen rows, top to bottom */
	const bool *wraps;       /* wraps[i]: row i continues on row i+1 (may be NULL) */
	size_t nrows;
	uint64_t now_ms;
};

typedef void (*vt_marker_cb)(void *data, const struct vt_marker *m);

int vt_scan_new(struct vt_scan **out, const struct vt_scan_opts *opts,
		char *err, size_t errlen);
void vt_scan_free(struct vt_scan *s);

/* Scans one frame and calls cb once per new occurrence, in screen order
 * (committed lines first). Returns the number reported or negative errno. */
int vt_scan_frame(struct vt_scan *s, const struct vt_scan_input *in,
		  vt_marker_cb cb, void *data);

#endif
