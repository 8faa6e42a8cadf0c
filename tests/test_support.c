/* test_support.c — fixture loading for the tests (uses cJSON). */
#include "test_support.h"

#include "sr_file.h"
#include "vt_screen.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ts_read_file(const char *name, size_t *len)
{
	char path[1024];
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", SR_FIXTURES_DIR, name);
	return sr_read_file(path, len);
}

int ts_fixtures(struct ts_fixture *out, int max)
{
	char *json = ts_read_file("index.json", NULL);
	if (!json)
		return -1;
	cJSON *root = cJSON_Parse(json);
	free(json);
	if (!root)
		return -1;
	int n = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, root)
	{
		if (n == max)
			break;
		struct ts_fixture *f = &out[n];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", it->string);
		f->cols = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "cols"));
		f->rows = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "rows"));
		cJSON *off;
		cJSON_ArrayForEach(off, cJSON_GetObjectItem(it, "golden_offsets"))
		{
			if (f->noffsets < 16)
				f->offsets[f->noffsets++] = (size_t)cJSON_GetNumberValue(off);
		}
		n++;
	}
	cJSON_Delete(root);
	return n;
}

static void feed_range(struct vt_screen *s, const char *raw, size_t from,
		       size_t to, size_t chunk)
{
	for (size_t i = from; i < to; i += chunk)
		vt_screen_feed(s, raw + i, to - i < chunk ? to - i : chunk);
}

char *ts_screen_text(const char *raw, size_t off, unsigned cols, unsigned rows,
		     size_t chunk, const struct ts_resize *rz, size_t nrz)
{
	struct vt_screen *s;
	struct vt_screen_opts o = {.cols = cols, .rows = rows};
	cr_assert_eq(vt_screen_new(&s, &o), 0);
	size_t pos = 0;
	for (size_t i = 0; i < nrz && rz[i].at <= off; i++) {
		cr_assert_geq(rz[i].at, pos, "resizes out of order");
		feed_range(s, raw, pos, rz[i].at, chunk);
		pos = rz[i].at;
		cr_assert_eq(vt_screen_resize(s, rz[i].cols, rz[i].rows), 0);
	}
	feed_range(s, raw, pos, off, chunk);
	struct vt_frame f;
	cr_assert_eq(vt_screen_snapshot(s, &f), 0);
	char *text = NULL;
	cr_assert_eq(vt_frame_text(&f, &text, NULL), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
	return text;
}
