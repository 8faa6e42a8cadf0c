/* vt_utf8.h — UTF-8 encoding of one code point (shared by the vt renderers). */
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

#endif
