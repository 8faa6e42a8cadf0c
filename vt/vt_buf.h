/* vt_buf.h — a growable byte buffer shared by the vt renderers and
 * encoders. Allocation failure is sticky (oom), so callers append freely and
 * check once at the end; the contents stay NUL-terminated. The owner frees
 * `p`. */
#ifndef VT_BUF_H
#define VT_BUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct vt_buf {
	char *p;
	size_t n, cap;
	bool oom;
};

static inline void vt_buf_put(struct vt_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->n + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static inline void vt_buf_str(struct vt_buf *b, const char *s)
{
	vt_buf_put(b, s, strlen(s));
}

#endif
