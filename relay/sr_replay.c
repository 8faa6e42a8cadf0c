/* sr_replay.c — `smrelay replay`: a recorded stream through the vt engine. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_cli.h"
#include "sr_file.h"
#include "sr_replay.h"
#include "sr_timing.h"
#include "vt_pipe.h"
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


static int print_screen(const char *raw, size_t len, unsigned cols, unsigned rows)
{
	struct vt_screen *s = NULL;
	struct vt_screen_opts o = {.cols = cols, .rows = rows};
	if (vt_screen_new(&s, &o) < 0) {
		fprintf(stderr, "smrelay replay: cannot create the virtual screen\n");
		return 1;
	}
	vt_screen_feed(s, raw, len);
	struct vt_frame f;
	char *text = NULL;
	size_t tlen = 0;
	int status = 0;
	if (vt_screen_snapshot(s, &f) < 0 || vt_frame_text(&f, &text, &tlen) < 0) {
		fprintf(stderr, "smrelay replay: out of memory\n");
		status = 1;
	} else {
		fwrite(text, 1, tlen, stdout);
	}
	free(text);
	vt_frame_free(&f);
	vt_screen_free(s);
	return status;
}

static cJSON *string_array(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* One JSON object per line for each chat operation. */
static void print_op(void *data, const struct vt_op *op)
{
	int *status = data;
	static const char *const names[] = {
		[VT_OP_COMMIT] = "commit", [VT_OP_LIVE] = "live",
		[VT_OP_SEAL] = "seal", [VT_OP_MARKER] = "marker", [VT_OP_END] = "end",
	};
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		*status = 1;
		return;
	}
	cJSON_AddNumberToObject(o, "t", (double)op->t_ms / 1000.0);
	cJSON_AddStringToObject(o, "op", names[op->kind]);
	switch (op->kind) {
	case VT_OP_COMMIT:
		cJSON_AddItemToObject(o, "lines", string_array(op->lines, op->nlines));
		if (op->final)
			cJSON_AddTrueToObject(o, "final");
		break;
	case VT_OP_LIVE:
		cJSON_AddStringToObject(o, "text", op->text);
		break;
	case VT_OP_MARKER:
		cJSON_AddStringToObject(o, "value", op->marker->value);
		cJSON_AddItemToObject(o, "context",
				      string_array(op->marker->context, op->marker->ncontext));
		break;
	case VT_OP_SEAL:
	case VT_OP_END:
		break;
	}
	char *line = cJSON_PrintUnformatted(o);
	if (line)
		printf("%s\n", line);
	else
		*status = 1;
	free(line);
	cJSON_Delete(o);
}

static int print_ops(const char *raw, size_t len, unsigned cols, unsigned rows,
		     const char *timing_path)
{
	struct sr_timing t = {0};
	if (timing_path) {
		size_t bad = 0;
		int r = sr_timing_load(timing_path, &t, &bad);
		if (r == -EINVAL) {
			fprintf(stderr, "smrelay replay: %s:%zu: expected '<seconds> <bytes>'\n",
				timing_path, bad);
			return 1;
		}
		if (r < 0) {
			fprintf(stderr, "smrelay replay: cannot read %s: %s\n", timing_path,
				strerror(-r));
			return 1;
		}
	}
	int status = 0;
	char err[256] = "";
	int r = sr_replay_run(raw, len, timing_path ? &t : NULL, cols, rows, print_op,
			      &status, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "smrelay replay: %s\n", err[0] ? err : strerror(-r));
		status = 1;
	}
	sr_timing_free(&t);
	return status;
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
			/* libtsm needs at least 2 columns (1 overflows its heap) */
			unsigned long long min = num == &offset ? 0 : num == &cols ? 2 : 1;
			unsigned long long max = num == &offset ? ~0ull - 1 : 4096;
			if (i + 1 >= argc || parse_uint(argv[i + 1], max, num) < 0 || *num < min) {
				if (num == &offset)
					fprintf(stderr, "smrelay replay: --offset needs a number of bytes\n");
				else
					fprintf(stderr, "smrelay replay: %s needs a number from %llu to 4096\n",
						a, min);
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
	char *raw = sr_read_file(file, &len);
	if (!raw) {
		fprintf(stderr, "smrelay replay: cannot read %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (offset < len)
		len = (size_t)offset;
	int status = screen ? print_screen(raw, len, (unsigned)cols, (unsigned)rows)
			    : print_ops(raw, len, (unsigned)cols, (unsigned)rows, timing);
	free(raw);
	return status;
}
