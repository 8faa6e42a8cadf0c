/*
 * vt_input.h — encodes what users type for the program in the PTY, for the
 * modes the program has enabled (see vt_filter.h).
 *
 *   text: one atomic write. With bracketed paste on (?2004h) the text is sent
 *         as ESC[200~ text ESC[201~ followed by CR, and any ESC[201~ inside
 *         the text is removed so it cannot end the paste early. Control
 *         characters other than LF and TAB are removed from the text (named
 *         keys are for those), so a chat message cannot smuggle escape
 *         sequences into the program.
 *   keys: a spec of named keys separated by spaces or commas, e.g.
 *         "down down enter", "down*3 enter", "ctrl-c", "esc", "shift-tab",
 *         "alt-b", "f5", "y". Cursor keys follow DECCKM (?1h: ESC O A).
 *         Kitty keyboard flags pushed by the program are not honoured: we do
 *         not answer its query, so programs use the legacy encoding.
 *
 * Ownership: *out is malloc'ed; the caller frees it. Output may contain NUL
 * (ctrl-space), so use *len. Errors: 0 or negative errno; for keys, a
 * message naming the bad token in err.
 */
#ifndef VT_INPUT_H
#define VT_INPUT_H

#include <stddef.h>
#include <stdint.h>

int vt_input_text(uint32_t modes, const char *text, char **out, size_t *len);

int vt_input_keys(uint32_t modes, const char *spec, char **out, size_t *len,
		  char *err, size_t errlen);

/* The key names vt_input_keys understands, for help texts. */
const char *vt_input_key_names(void);

#endif
