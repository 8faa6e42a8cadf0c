/* sr_replay.c — `smrelay replay`: a recorded stream through the vt engine. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_cli.h"
#include "sr_timing.h"
#include "vt_screen.h"

static void replay_usage(FILE *out)
{
	fprintf(out,
		"usage: smrelay replay [--cols N] [--rows N] [--timing FILE] [--offset BYTES] [--screen] FILE\n"
		"\n"
		"  --cols N, --rows N  terminal size (default 80 x 24)\n"
		"  --timing FILE       scriptreplay timing file: replays on its clock\n"
		"  --offset BYTES      stop after this many bytes (default: all)\n"
		"  --screen            print the screen text after OFFSET bytes instead\n"
		"                      of the chat operations\n");
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, fp);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(fp)) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	*len = n;
	return buf;
}

int sr_cmd_replay(int argc, char **argv)
{
	unsigned long long cols = 80, rows = 24, offset = ~0ull;
	const char *timing = NULL, *file = NULL;
	bool screen = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		unsigned long long *num = !strcmp(a, "--cols") ? &cols :
					  !strcmp(a, "--rows") ? &rows :
					  !strcmp(a, "--offset") ? &offset : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			replay_usage(stdout);
			return 0;
		} else if (num) {
			unsigned long long max = num == &offset ? ~0ull - 1 : 4096;
			if (i + 1 >= argc || parse_uint(argv[i + 1], max, num) < 0 ||
			    (num != &offset && *num == 0)) {
				fprintf(stderr, "smrelay replay: %s needs a number%s\n", a,
					num == &offset ? "" : " from 1 to 4096");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--timing")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "smrelay replay: --timing needs a file\n");
				return 2;
			}
			timing = argv[++i];
		} else if (!strcmp(a, "--screen")) {
			screen = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "smrelay replay: unknown option '%s'\n", a);
			replay_usage(stderr);
			return 2;
		} else if (!file) {
			file = a;
		} else {
			fprintf(stderr, "smrelay replay: more than one FILE given\n");
			return 2;
		}
	}
	if (!file) {
		fprintf(stderr, "smrelay replay: no FILE given\n");
		replay_usage(stderr);
		return 2;
	}
	size_t len;
	char *raw = read_all(file, &len);
	if (!raw) {
		fprintf(stderr, "smrelay replay: cannot read %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (offset < len)
		len = (size_t)offset;
	(void)timing;
	int status = 0;
	struct vt_screen *s = NULL;
	struct vt_screen_opts o = {.cols = (unsigned)cols, .rows = (unsigned)rows};
	if (vt_screen_new(&s, &o) < 0) {
		fprintf(stderr, "smrelay replay: cannot create the virtual screen\n");
		free(raw);
		return 1;
	}
	vt_screen_feed(s, raw, len);
	if (screen) {
		struct vt_frame f;
		char *text = NULL;
		size_t tlen = 0;
		if (vt_screen_snapshot(s, &f) < 0 || vt_frame_text(&f, &text, &tlen) < 0) {
			fprintf(stderr, "smrelay replay: out of memory\n");
			status = 1;
		} else {
			fwrite(text, 1, tlen, stdout);
		}
		free(text);
		vt_frame_free(&f);
	}
	vt_screen_free(s);
	free(raw);
	return status;
}
