/* vt_utf8.h — UTF-8 encoding and decoding of one code point, shared by the
 * vt modules. */
#ifndef VT_UTF8_H
#define VT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Writes cp as UTF-8 into out (room for 4 bytes); returns the byte count.
 * Surrogates and values above U+10FFFF become U+FFFD. */
static inline size_t vt_utf8_put(uint32_t cp, char *out)
{
	if (cp >= 0xd800 && (cp <= 0xdfff || cp > 0x10ffff))
		cp = 0xfffd;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the character at s (at most n bytes). Returns its byte length and
 * stores the code point; an invalid or truncated sequence decodes as its
 * first byte alone (length 1), so callers always make progress. */
static inline size_t vt_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = u[0] < 0x80 ? 1 : u[0] < 0xc2 ? 0 : u[0] < 0xe0 ? 2 :
		     u[0] < 0xf0 ? 3 : u[0] < 0xf5 ? 4 : 0;
	if (len == 0 || len > n) {
		*cp = u[0];
		return 1;
	}
	uint32_t v = len == 1 ? u[0] : (u[0] & (0x3fu >> (len - 1)));
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*cp = u[0];
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3f);
	}
	*cp = v;
	return len;
}

#endif
