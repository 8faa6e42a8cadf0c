/* sr_timing.c — scriptreplay timing files. */
#include "sr_timing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sr_timing_load(const char *path, struct sr_timing *t, size_t *bad_line)
{
	memset(t, 0, sizeof(*t));
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -errno;
	char line[256];
	size_t cap = 0, lineno = 0;
	double clock = 0;
	int r = 0;
	while (fgets(line, sizeof(line), fp)) {
		lineno++;
		double delay;
		unsigned long long bytes;
		char extra;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%lf %llu %c", &delay, &bytes, &extra) != 2 ||
		    !isfinite(delay) || delay < 0 || delay > 1e7) {
			r = -EINVAL;
			if (bad_line)
				*bad_line = lineno;
			break;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 256;
			uint64_t *a = realloc(t->at_ms, cap * sizeof(*a));
			if (a)
				t->at_ms = a;
			size_t *b = realloc(t->bytes, cap * sizeof(*b));
			if (b)
				t->bytes = b;
			if (!a || !b) {
				r = -ENOMEM;
				break;
			}
		}
		clock += delay;
		t->at_ms[t->n] = (uint64_t)llround(clock * 1000.0);
		t->bytes[t->n] = (size_t)bytes;
		t->n++;
	}
	fclose(fp);
	if (r < 0)
		sr_timing_free(t);
	return r;
}

void sr_timing_free(struct sr_timing *t)
{
	free(t->at_ms);
	free(t->bytes);
	memset(t, 0, sizeof(*t));
}
