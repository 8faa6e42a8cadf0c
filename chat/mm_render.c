/* mm_render.c — post texts (see mm_render.h). */
#include "mm_render.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t mm_runes(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80; /* count lead bytes (and stray ones) */
	return n;
}

static size_t longest_backticks(const char *const *lines, size_t n)
{
	size_t best = 0;
	for (size_t i = 0; i < n; i++) {
		size_t run = 0;
		for (const char *p = lines[i]; *p; p++) {
			run = *p == '`' ? run + 1 : 0;
			if (run > best)
				best = run;
		}
	}
	return best;
}

int mm_render_code(const char *const *lines, size_t n, char **out)
{
	if (!out || (n && !lines))
		return -EINVAL;
	*out = NULL;
	size_t fence = longest_backticks(lines, n) + 1;
	if (fence < 3)
		fence = 3;
	size_t len = 2 * (fence + 1) + 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	char *b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	size_t k = 0;
	memset(b + k, '`', fence);
	k += fence;
	b[k++] = '\n';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(lines[i]);
		memcpy(b + k, lines[i], l);
		k += l;
		b[k++] = '\n';
	}
	if (!n)
		b[k++] = '\n'; /* an empty block still has its line */
	memset(b + k, '`', fence);
	k += fence;
	b[k] = '\0';
	*out = b;
	return 0;
}

int mm_render_screen(const char *text, size_t cap, char **out)
{
	if (!text || !out || cap < 64)
		return -EINVAL;
	*out = NULL;
	/* split into lines (a trailing '\n' ends the last line) */
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char *copy = strdup(text);
	const char **lines = calloc(n + 1, sizeof(*lines));
	if (!copy || !lines) {
		free(copy);
		free(lines);
		return -ENOMEM;
	}
	size_t k = 0;
	for (char *p = copy, *s = copy;; p++) {
		if (*p == '\n' || !*p) {
			bool end = !*p;
			*p = '\0';
			if (!end || *s)
				lines[k++] = s;
			if (end)
				break;
			s = p + 1;
		}
	}
	size_t first = 0;
	char note[64];
	int rc;
	for (;;) {
		const char **v = lines + first;
		size_t m = k - first;
		if (first) {
			snprintf(note, sizeof(note), "… %zu lines above", first);
			v = lines + first - 1;
			v[0] = note;
			m++;
		}
		rc = mm_render_code(v, m, out);
		if (rc < 0 || mm_runes(*out) <= cap || first >= k)
			break;
		free(*out);
		*out = NULL;
		first++; /* a screen is at most a few hundred rows: one at a time is fine */
	}
	free(copy);
	free(lines);
	return rc;
}

int mm_render_inline(const char *s, char **out)
{
	if (!s || !out)
		return -EINVAL;
	size_t n = strlen(s);
	char *b = malloc(n * 4 + 1);
	if (!b)
		return -ENOMEM;
	size_t k = 0;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n' || c == '\r' || c == '\t') {
			b[k++] = ' ';
		} else if (c < 0x20 || c == 0x7f) {
			continue;
		} else if (strchr("\\`*_{}[]()<>#+!|~:", c)) {
			b[k++] = '\\';
			b[k++] = (char)c;
		} else if (c == '@') {
			/* @ + ZERO WIDTH SPACE: never a mention */
			b[k++] = '@';
			memcpy(b + k, "\xe2\x80\x8b", 3);
			k += 3;
		} else {
			b[k++] = (char)c;
		}
	}
	b[k] = '\0';
	*out = b;
	return 0;
}
