/* test_transcript.c — what the chat receives for each recorded stream,
 * replayed on its own clock through the whole vt pipeline (the issue's
 * acceptance list for the diff engine, batching and scanner). */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_replay.h"
#include "test_support.h"
#include "vt_batch.h"

struct rec_op {
	enum vt_op_kind kind;
	uint64_t t;
	char **lines;
	size_t nlines;
	bool final;
	char *text;
};

struct recording {
	struct rec_op ops[4096];
	size_t n;
};

static void record(void *data, const struct vt_op *op)
{
	struct recording *r = data;
	cr_assert_lt(r->n, 4096);
	struct rec_op *o = &r->ops[r->n++];
	memset(o, 0, sizeof(*o));
	o->kind = op->kind;
	o->t = op->t_ms;
	o->final = op->final;
	if (op->kind == VT_OP_COMMIT) {
		o->lines = calloc(op->nlines ? op->nlines : 1, sizeof(char *));
		for (size_t i = 0; i < op->nlines; i++)
			o->lines[i] = strdup(op->lines[i]);
		o->nlines = op->nlines;
	} else if (op->kind == VT_OP_LIVE) {
		o->text = strdup(op->text);
	} else if (op->kind == VT_OP_MARKER) {
		o->text = strdup(op->marker->value);
		/* keep the context as lines */
		o->lines = calloc(op->marker->ncontext + 1, sizeof(char *));
		for (size_t i = 0; i < op->marker->ncontext; i++)
			o->lines[i] = strdup(op->marker->context[i]);
		o->nlines = op->marker->ncontext;
	}
}

static struct recording *replay(const char *name, unsigned cols, unsigned rows)
{
	char path[256];
	snprintf(path, sizeof(path), "%s.raw", name);
	size_t len;
	char *raw = ts_read_file(path, &len);
	cr_assert_not_null(raw, "missing %s", path);
	snprintf(path, sizeof(path), "%s/%s.timing", SR_FIXTURES_DIR, name);
	struct sr_timing t;
	cr_assert_eq(sr_timing_load(path, &t, NULL), 0, "cannot load %s", path);
	struct recording *rec = calloc(1, sizeof(*rec));
	char err[128];
	cr_assert_eq(sr_replay_run(raw, len, &t, cols, rows, record, rec, err, sizeof(err)), 0);
	sr_timing_free(&t);
	free(raw);
	cr_assert_gt(rec->n, 0);
	cr_assert_eq(rec->ops[rec->n - 1].kind, VT_OP_END, "stream must end with END");
	return rec;
}

static void free_recording(struct recording *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->ops[i].nlines; k++)
			free(r->ops[i].lines[k]);
		free(r->ops[i].lines);
		free(r->ops[i].text);
	}
	free(r);
}

/* All committed lines in order (a flat view of the history). */
static size_t committed(const struct recording *r, const char ***out)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->ops[i].kind == VT_OP_COMMIT)
			n += r->ops[i].nlines;
	const char **v = calloc(n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->ops[i].kind == VT_OP_COMMIT)
			for (size_t j = 0; j < r->ops[i].nlines; j++)
				v[k++] = r->ops[i].lines[j];
	*out = v;
	return n;
}

static size_t count_kind(const struct recording *r, enum vt_op_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->ops[i].kind == k;
	return n;
}

/* Invariants every stream must satisfy. */
static void check_invariants(const struct recording *r, const char *name)
{
	const char *last_live = NULL;
	uint64_t last_t = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_op *o = &r->ops[i];
		cr_assert_geq(o->t, last_t, "%s: ops out of time order", name);
		last_t = o->t;
		if (o->kind == VT_OP_SEAL)
			last_live = NULL;
		if (o->kind == VT_OP_LIVE) {
			cr_assert(!last_live || strcmp(last_live, o->text) != 0,
				  "%s: live update equal to the previous one", name);
			cr_assert_leq(vt_utf8_chars(o->text) + 8, 16383, "%s: live over cap", name);
			last_live = o->text;
		}
		if (o->kind == VT_OP_COMMIT) {
			size_t chars = 0;
			for (size_t k = 0; k < o->nlines; k++)
				chars += vt_utf8_chars(o->lines[k]) + 1;
			cr_assert_leq(chars + 8, 16383 + 1, "%s: commit over cap", name);
		}
	}
}

static int line_number(const char *line)
{
	static regex_t re;
	static bool ready;
	if (!ready) {
		cr_assert_eq(regcomp(&re, "^(● |  )line ([0-9]+): lorem", REG_EXTENDED), 0);
		ready = true;
	}
	regmatch_t m[3];
	if (regexec(&re, line, 3, m, 0) != 0)
		return -1;
	return atoi(line + m[2].rm_so);
}

Test(transcript, inline_long_commits_each_numbered_line_once_in_order)
{
	struct recording *r = replay("claude-inline-long", 120, 40);
	check_invariants(r, "claude-inline-long");
	const char **lines;
	size_t n = committed(r, &lines);
	int expect = 0;
	for (size_t i = 0; i < n; i++) {
		int num = line_number(lines[i]);
		if (num < 0)
			continue;
		cr_assert_eq(num, expect, "line %d committed where line %d was due", num, expect);
		expect++;
	}
	cr_assert_eq(expect, 200, "only %d of 200 lines committed", expect);
	/* The input box and mode line are status rows, never history. */
	for (size_t i = 0; i < n; i++) {
		cr_assert(strcmp(lines[i], "❯") != 0 && strncmp(lines[i], "────", 12) != 0,
			  "status row committed: '%s'", lines[i]);
		cr_assert(strstr(lines[i], "bypass permissions") == NULL,
			  "mode line committed: '%s'", lines[i]);
	}
	/* The transcript keeps the conversation around the long answer. */
	bool prompt = false, marker = false;
	for (size_t i = 0; i < n; i++) {
		prompt |= strcmp(lines[i], "❯ please install requests") == 0;
		marker |= strcmp(lines[i], "  [NETWORK_REQUEST: pypi.org]") == 0;
	}
	cr_assert(prompt && marker);
	cr_assert_eq(count_kind(r, VT_OP_MARKER), 1);
	free(lines);
	free_recording(r);
}

Test(transcript, long_output_alt_screen_commits_nothing_twice_and_keeps_the_last_frame)
{
	struct recording *r = replay("claude-long-output", 120, 40);
	check_invariants(r, "claude-long-output");
	const char **lines;
	size_t n = committed(r, &lines);
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; lines[i][0] && k < n; k++)
			cr_assert_str_neq(lines[i], lines[k], "committed twice: '%s'", lines[i]);
	/* The live text sealed when Claude Code left the alternate screen is its
	 * final frame: the last 33 lines of the answer. */
	const char *sealed = NULL;
	for (size_t i = 0; i < r->n; i++) {
		if (r->ops[i].kind == VT_OP_LIVE)
			sealed = r->ops[i].text;
		if (r->ops[i].kind == VT_OP_SEAL)
			break;
	}
	cr_assert_not_null(sealed);
	for (int num = 167; num <= 199; num++) {
		char want[32];
		snprintf(want, sizeof(want), "  line %d: lorem", num);
		cr_assert_not_null(strstr(sealed, want), "sealed live text lacks line %d", num);
	}
	cr_assert_null(strstr(sealed, "line 166:"));
	cr_assert_eq(count_kind(r, VT_OP_SEAL), 1);
	free(lines);
	free_recording(r);
}

Test(transcript, network_request_yields_exactly_one_marker)
{
	struct recording *r = replay("claude-network-request", 100, 30);
	check_invariants(r, "claude-network-request");
	cr_assert_eq(count_kind(r, VT_OP_MARKER), 1);
	for (size_t i = 0; i < r->n; i++) {
		if (r->ops[i].kind != VT_OP_MARKER)
			continue;
		cr_assert_str_eq(r->ops[i].text, "pypi.org");
		bool has_line = false, has_reason = false;
		for (size_t k = 0; k < r->ops[i].nlines; k++) {
			has_line |= strstr(r->ops[i].lines[k], "[NETWORK_REQUEST: pypi.org]") != NULL;
			has_reason |= strstr(r->ops[i].lines[k], "unreachable") != NULL;
		}
		cr_assert(has_line && has_reason, "context must show the marker and why");
	}
	free_recording(r);
}

Test(transcript, no_markers_in_other_programs)
{
	static const struct {
		const char *name;
		unsigned cols, rows;
	} progs[] = {
		{"vim-edit", 100, 30},     {"less-scroll", 100, 30},
		{"whiptail-menu", 100, 30}, {"progress-bar", 100, 30},
		{"claude-spinner", 100, 30}, {"claude-apikey-dialog", 100, 30},
		{"claude-long-output", 120, 40},
	};
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct recording *r = replay(progs[i].name, progs[i].cols, progs[i].rows);
		check_invariants(r, progs[i].name);
		cr_assert_eq(count_kind(r, VT_OP_MARKER), 0, "%s: unexpected marker", progs[i].name);
		free_recording(r);
	}
}

Test(transcript, progress_bar_commits_each_finished_bar_once)
{
	struct recording *r = replay("progress-bar", 100, 30);
	const char **lines;
	size_t n = committed(r, &lines);
	static const char *const bars[] = {"Downloading requests:", "Downloading urllib3:",
					   "Downloading idna:"};
	for (size_t b = 0; b < 3; b++) {
		int done = 0;
		for (size_t i = 0; i < n; i++) {
			if (strncmp(lines[i], bars[b], strlen(bars[b])) != 0)
				continue;
			cr_assert_not_null(strstr(lines[i], "100%"),
					   "unfinished bar committed: '%s'", lines[i]);
			done++;
		}
		cr_assert_eq(done, 1, "%s committed %d times", bars[b], done);
	}
	/* The 60 numbered lines before the bars, each once, in order. */
	int expect = 1;
	for (size_t i = 0; i < n; i++)
		if (atoi(lines[i]) == expect && strspn(lines[i], "0123456789") == strlen(lines[i]))
			expect++;
	cr_assert_eq(expect, 61);
	free(lines);
	free_recording(r);
}

Test(transcript, spinner_is_paced_and_never_committed)
{
	struct recording *r = replay("claude-spinner", 100, 30);
	check_invariants(r, "claude-spinner");
	size_t lives = 0;
	uint64_t first = UINT64_MAX, last = 0, prev = 0;
	bool have_prev = false;
	for (size_t i = 0; i < r->n; i++) {
		if (r->ops[i].kind != VT_OP_LIVE)
			continue;
		lives++;
		if (have_prev)
			cr_assert_geq(r->ops[i].t - prev, 1000, "two live updates within 1 s");
		prev = r->ops[i].t;
		have_prev = true;
		if (r->ops[i].t < first)
			first = r->ops[i].t;
		last = r->ops[i].t;
	}
	cr_assert_gt(lives, 1);
	double seconds = (double)(last - first) / 1000.0;
	cr_log_info("claude-spinner: %zu live updates over %.1f s", lives, seconds);
	cr_assert_leq((double)(lives - 1), seconds, "more than one live update per second");
	const char **lines;
	size_t n = committed(r, &lines);
	for (size_t i = 0; i < n; i++)
		cr_assert_null(strstr(lines[i], "…"), "spinner frame committed: '%s'", lines[i]);
	free(lines);
	free_recording(r);
}

Test(transcript, apikey_dialog_menu_moves_are_visible_live)
{
	struct recording *r = replay("claude-apikey-dialog", 100, 30);
	check_invariants(r, "claude-apikey-dialog");
	/* The user must see the menu to drive it from chat. */
	bool menu = false;
	for (size_t i = 0; i < r->n; i++)
		if (r->ops[i].kind == VT_OP_LIVE && strstr(r->ops[i].text, "Do you want to use this API key?"))
			menu = true;
	cr_assert(menu, "the API key menu never reached the live post");
	free_recording(r);
}
