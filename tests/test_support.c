/* test_support.c — fixture loading for the tests (uses cJSON). */
#include "test_support.h"

#include "sr_file.h"

#include <cjson/cJSON.h>
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
