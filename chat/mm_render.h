/*
 * mm_render.h — the text of chat posts. Pure: no I/O.
 *
 * Screens and transcript lines go into fenced code blocks with no language
 * tag (Mattermost keeps columns and wraps long lines there); the fence is
 * longer than any run of backticks in the content, so a screen line with
 * ``` cannot end it early. Mentions and Markdown inside a code block are
 * inert. Text outside code blocks that comes from users or programs (host
 * names, error messages, project names) goes through mm_render_inline:
 * Markdown characters are backslash-escaped and '@' is followed by a
 * zero-width space, so nothing renders as a link, mention or formatting.
 *
 * Sizes are counted in Unicode code points ("runes", what Mattermost's
 * 16383 cap counts).
 *
 * Ownership: every *out is malloc'ed; the caller frees it.
 * Errors: 0, -EINVAL, -ENOMEM.
 */
#ifndef MM_RENDER_H
#define MM_RENDER_H

#include <stddef.h>

#define MM_MESSAGE_CAP 16383

/* Code points in s (invalid bytes count one each). */
size_t mm_runes(const char *s);

/* lines as one fenced code block. */
int mm_render_code(const char *const *lines, size_t n, char **out);

/* text (lines separated by '\n') as one fenced code block that fits in cap
 * runes: when it does not, the oldest lines are dropped and a first line
 * says how many ("… 12 lines above"). */
int mm_render_screen(const char *text, size_t cap, char **out);

/* s made inert outside a code block (see the top). */
int mm_render_inline(const char *s, char **out);

#endif
