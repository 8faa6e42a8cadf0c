/* vt_frame.c — frame storage and plain-text rendering. */
#include "vt_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vt_utf8.h"

int vt_frame_alloc(struct vt_frame *f, unsigned cols, unsigned rows)
{
	memset(f, 0, sizeof(*f));
	if (cols == 0 || rows == 0 || cols > 4096 || rows > 4096)
		return -EINVAL;
	f->cols = cols;
	f->rows = rows;
	f->cells = calloc((size_t)cols * rows, sizeof(*f->cells));
	f->row_hash = calloc(rows, sizeof(*f->row_hash));
	f->row_end = calloc(rows, sizeof(*f->row_end));
	if (!f->cells || !f->row_hash || !f->row_end) {
		vt_frame_free(f);
		return -ENOMEM;
	}
	return 0;
}

void vt_frame_free(struct vt_frame *f)
{
	if (!f)
		return;
	free(f->cells);
	free(f->row_hash);
	free(f->row_end);
	if (f->scrolled_mem)
		free(f->scrolled_mem);
	else
		for (size_t i = 0; i < f->nscrolled; i++)
			free(f->scrolled[i]);
	free(f->scrolled);
	memset(f, 0, sizeof(*f));
}

int vt_frame_row_text(const struct vt_frame *f, unsigned row, char *buf,
		      size_t cap)
{
	if (!f || row >= f->rows || !buf || cap == 0)
		return -EINVAL;
	const struct vt_cell *c = vt_frame_cell(f, 0, row);
	unsigned end = f->row_end[row];
	size_t n = 0;
	for (unsigned x = 0; x < end; x++) {
		if (c[x].width == 0)
			continue; /* right half of a wide glyph */
		if (n + 5 > cap)
			return -ENOSPC;
		n += vt_utf8_put(c[x].ch ? c[x].ch : ' ', buf + n);
	}
	buf[n] = '\0';
	return (int)n;
}

bool vt_frame_row_wraps(const struct vt_frame *f, unsigned row)
{
	return f && row + 1 < f->rows && f->row_end[row] == f->cols;
}

int vt_frame_text(const struct vt_frame *f, char **out, size_t *len)
{
	if (!f || !out)
		return -EINVAL;
	size_t rowcap = vt_frame_row_cap(f);
	char *buf = malloc(rowcap * f->rows + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = 0;
	for (unsigned y = 0; y < f->rows; y++) {
		int r = vt_frame_row_text(f, y, buf + n, rowcap);
		if (r < 0) {
			free(buf);
			return r;
		}
		n += (size_t)r;
		buf[n++] = '\n';
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}
