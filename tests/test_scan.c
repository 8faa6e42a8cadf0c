/* test_scan.c — marker scanner: detection, once-only reporting, context. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vt_scan.h"

#define MAXREP 64
#define MAXCTX 16

struct rep {
	char *value;
	char *line;
	char *ctx[MAXCTX];
	size_t nctx;
};

struct reps {
	struct rep r[MAXREP]; /* the first MAXREP reports */
	size_t n;             /* all callbacks */
};

static void collect(void *data, const struct vt_marker *m)
{
	struct reps *rs = data;
	if (rs->n++ >= MAXREP)
		return;
	struct rep *r = &rs->r[rs->n - 1];
	r->value = strdup(m->value);
	r->line = strdup(m->line);
	cr_assert_leq(m->ncontext, MAXCTX);
	r->nctx = m->ncontext;
	for (size_t i = 0; i < m->ncontext; i++)
		r->ctx[i] = strdup(m->context[i]);
}

static void reps_clear(struct reps *rs)
{
	for (size_t i = 0; i < rs->n && i < MAXREP; i++) {
		free(rs->r[i].value);
		free(rs->r[i].line);
		for (size_t j = 0; j < rs->r[i].nctx; j++)
			free(rs->r[i].ctx[j]);
	}
	rs->n = 0;
}

static struct reps reps;
static struct vt_scan *scan;

static void setup(void)
{
	cr_assert_eq(vt_scan_new(&scan, NULL, NULL, 0), 0);
}

static void teardown(void)
{
	reps_clear(&reps);
	vt_scan_free(scan);
	scan = NULL;
}

/* Scans one frame; clears previous reports; returns vt_scan_frame's result
 * after checking it agrees with the number of callbacks. */
static int frame(const char *const *committed, size_t nc,
		 const char *const *rows, const bool *wraps, size_t nrows,
		 uint64_t now)
{
	reps_clear(&reps);
	struct vt_scan_input in = { committed, nc, rows, wraps, nrows, now };
	int r = vt_scan_frame(scan, &in, collect, &reps);
	if (r >= 0)
		cr_assert_eq((size_t)r, reps.n);
	return r;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SCREEN(rows, now) frame(NULL, 0, rows, NULL, N(rows), now)

static const char *const screen1[] = {
	"● The install failed: pypi.org is unreachable.",
	"",
	"  [NETWORK_REQUEST: pypi.org]",
	"",
	"✻ Churned for 1s",
};

TestSuite(scan, .init = setup, .fini = teardown);

Test(scan, single_marker_reported_once_with_context)
{
	cr_assert_eq(SCREEN(screen1, 0), 1);
	struct rep *r = &reps.r[0];
	cr_assert_str_eq(r->value, "pypi.org");
	cr_assert_str_eq(r->line, "  [NETWORK_REQUEST: pypi.org]");
	/* 3 before (blank edges trimmed), 1 after (blank, trimmed). */
	cr_assert_eq(r->nctx, 3);
	cr_assert_str_eq(r->ctx[0], screen1[0]);
	cr_assert_str_eq(r->ctx[1], "");
	cr_assert_str_eq(r->ctx[2], screen1[2]);

	cr_assert_eq(SCREEN(screen1, 16), 0, "same frame again");
	cr_assert_eq(SCREEN(screen1, 32), 0, "and again");
}

Test(scan, context_after_and_limits)
{
	const char *const rows[] = { "a", "b", "c", "d", "[NETWORK_REQUEST: x.org]",
				     "e", "f" };
	cr_assert_eq(SCREEN(rows, 0), 1);
	cr_assert_eq(reps.r[0].nctx, 5);
	cr_assert_str_eq(reps.r[0].ctx[0], "b");
	cr_assert_str_eq(reps.r[0].ctx[4], "e");
}

Test(scan, context_options)
{
	vt_scan_free(scan);
	struct vt_scan_opts o = { .context_set = true };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	cr_assert_eq(SCREEN(screen1, 0), 1);
	cr_assert_eq(reps.r[0].nctx, 1);
	cr_assert_str_eq(reps.r[0].ctx[0], screen1[2]);

	vt_scan_free(scan);
	o = (struct vt_scan_opts){ .context_before = 1, .context_after = 2 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	cr_assert_eq(SCREEN(screen1, 0), 1);
	/* before: only a blank line (trimmed); after: blank + "✻ ..." */
	cr_assert_eq(reps.r[0].nctx, 3);
	cr_assert_str_eq(reps.r[0].ctx[0], screen1[2]);
	cr_assert_str_eq(reps.r[0].ctx[2], screen1[4]);
}

Test(scan, moved_marker_not_rereported)
{
	cr_assert_eq(SCREEN(screen1, 0), 1);
	const char *const moved[] = { "header", "", "", "", "", "",
				      "  [NETWORK_REQUEST: pypi.org]", "" };
	cr_assert_eq(SCREEN(moved, 10), 0);
	cr_assert_eq(SCREEN(screen1, 20), 0, "moved back");
}

Test(scan, scrolled_into_committed_not_rereported)
{
	cr_assert_eq(SCREEN(screen1, 0), 1);
	const char *const committed[] = { screen1[0], screen1[1], screen1[2] };
	const char *const rows[] = { screen1[3], screen1[4], "$ next" };
	cr_assert_eq(frame(committed, N(committed), rows, NULL, N(rows), 10), 0);
	cr_assert_eq(SCREEN(rows, 20), 0);
	/* Once committed it is gone: an identical new line is a new request. */
	cr_assert_eq(SCREEN(screen1, 30), 1);
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
}

Test(scan, committed_only_marker_reported_with_committed_context)
{
	const char *const committed[] = { "v", "w", "x", "y",
					   "[NETWORK_REQUEST: files.pythonhosted.org]" };
	const char *const rows[] = { "screen top", "$" };
	cr_assert_eq(frame(committed, N(committed), rows, NULL, N(rows), 0), 1);
	cr_assert_str_eq(reps.r[0].value, "files.pythonhosted.org");
	/* 3 before; nothing after: context stays within the committed lines. */
	cr_assert_eq(reps.r[0].nctx, 4);
	cr_assert_str_eq(reps.r[0].ctx[0], "w");
	cr_assert_str_eq(reps.r[0].ctx[3], committed[4]);
	/* It never becomes visible-known: the same lines on screen are new. */
	cr_assert_eq(SCREEN(committed, 10), 1);
}

Test(scan, screen_context_reaches_into_committed_tail)
{
	const char *const committed[] = { "question?" };
	const char *const rows[] = { "[NETWORK_REQUEST: a.io]", "after" };
	cr_assert_eq(frame(committed, N(committed), rows, NULL, N(rows), 0), 1);
	cr_assert_eq(reps.r[0].nctx, 3);
	cr_assert_str_eq(reps.r[0].ctx[0], "question?");
	cr_assert_str_eq(reps.r[0].ctx[2], "after");
}

Test(scan, wrapped_marker_found)
{
	const char *const rows[] = { "output: ....[NETWORK_REQ", "UEST: pypi.org]", "next" };
	const bool wraps[] = { true, false, false };
	cr_assert_eq(frame(NULL, 0, rows, wraps, N(rows), 0), 1);
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
	cr_assert_str_eq(reps.r[0].line, "output: ....[NETWORK_REQUEST: pypi.org]");
	cr_assert_eq(reps.r[0].nctx, 2);
	cr_assert_str_eq(reps.r[0].ctx[1], "next");
	cr_assert_eq(frame(NULL, 0, rows, wraps, N(rows), 10), 0);
}

Test(scan, split_marker_without_wrap_not_found)
{
	const char *const rows[] = { "output: ....[NETWORK_REQ", "UEST: pypi.org]" };
	const bool wraps[] = { false, false };
	cr_assert_eq(frame(NULL, 0, rows, wraps, N(rows), 0), 0);
	cr_assert_eq(SCREEN(rows, 0), 0, "NULL wraps");
}

Test(scan, wrap_flag_on_last_row_is_harmless)
{
	const char *const rows[] = { "[NETWORK_REQUEST: a.io]" };
	const bool wraps[] = { true };
	cr_assert_eq(frame(NULL, 0, rows, wraps, 1, 0), 1);
	cr_assert_str_eq(reps.r[0].line, rows[0]);
}

Test(scan, extra_spaces)
{
	const char *const rows[] = { "[NETWORK_REQUEST:   pypi.org  ]",
				     "[NETWORK_REQUEST:pypi.org]" };
	cr_assert_eq(SCREEN(rows, 0), 2);
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
	cr_assert_str_eq(reps.r[1].value, "pypi.org");
}

Test(scan, two_identical_lines_are_two_occurrences)
{
	const char *const two[] = { "[NETWORK_REQUEST: pypi.org]", "ok",
				    "[NETWORK_REQUEST: pypi.org]" };
	cr_assert_eq(SCREEN(two, 0), 2);
	cr_assert_eq(SCREEN(two, 10), 0);
	/* One vanishes (retired), then comes back within forget_ms. */
	const char *const one[] = { "[NETWORK_REQUEST: pypi.org]", "ok" };
	cr_assert_eq(SCREEN(one, 20), 0);
	cr_assert_eq(SCREEN(two, 30), 0);
	/* A third identical line while two are known is new. */
	const char *const three[] = { two[0], two[0], two[0] };
	cr_assert_eq(SCREEN(three, 40), 1);
}

Test(scan, identical_line_appears_while_first_visible)
{
	const char *const one[] = { "[NETWORK_REQUEST: pypi.org]", "" };
	cr_assert_eq(SCREEN(one, 0), 1);
	const char *const two[] = { one[0], one[0] };
	cr_assert_eq(SCREEN(two, 10), 1);
}

Test(scan, same_value_different_line_is_new)
{
	const char *const a[] = { "  [NETWORK_REQUEST: pypi.org]" };
	const char *const b[] = { "● [NETWORK_REQUEST: pypi.org]" };
	cr_assert_eq(SCREEN(a, 0), 1);
	cr_assert_eq(SCREEN(b, 10), 1);
}

Test(scan, several_markers_on_one_line)
{
	const char *const rows[] = {
		"[NETWORK_REQUEST: a.io] and [NETWORK_REQUEST: b.io]",
	};
	cr_assert_eq(SCREEN(rows, 0), 2);
	cr_assert_str_eq(reps.r[0].value, "a.io");
	cr_assert_str_eq(reps.r[1].value, "b.io");
	cr_assert_eq(SCREEN(rows, 10), 0);
}

Test(scan, vanish_and_reappear_respects_forget_ms)
{
	const char *const empty[] = { "", "$" };
	cr_assert_eq(SCREEN(screen1, 0), 1);
	cr_assert_eq(SCREEN(empty, 100), 0); /* retired at 100 */
	cr_assert_eq(SCREEN(screen1, 5000), 0, "back within forget_ms");
	cr_assert_eq(SCREEN(empty, 6000), 0); /* retired at 6000 */
	cr_assert_eq(SCREEN(screen1, 11000), 0, "exactly forget_ms later");
	cr_assert_eq(SCREEN(empty, 12000), 0); /* retired at 12000 */
	cr_assert_eq(SCREEN(screen1, 17001), 1, "forgotten");
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
}

Test(scan, custom_forget_ms)
{
	vt_scan_free(scan);
	struct vt_scan_opts o = { .forget_ms = 50 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	const char *const empty[] = { "" };
	cr_assert_eq(SCREEN(screen1, 0), 1);
	cr_assert_eq(SCREEN(empty, 10), 0);
	cr_assert_eq(SCREEN(screen1, 100), 1);
}

Test(scan, retired_marker_scrolling_off_is_not_new)
{
	const char *const empty[] = { "" };
	cr_assert_eq(SCREEN(screen1, 0), 1);
	cr_assert_eq(SCREEN(empty, 10), 0);
	const char *const committed[] = { screen1[2] };
	cr_assert_eq(frame(committed, 1, empty, NULL, 1, 20), 0);
}

Test(scan, approved_and_denied_echoes_not_matched)
{
	const char *const rows[] = {
		"[NETWORK_APPROVED: pypi.org]",
		"[NETWORK_DENIED: pypi.org]",
		"[NETWORK_REQUEST]",
		"[NETWORK_REQUEST: ]",
		"NETWORK_REQUEST: pypi.org",
	};
	cr_assert_eq(SCREEN(rows, 0), 0);
}

Test(scan, custom_patterns)
{
	vt_scan_free(scan);
	const char *const pats[] = { "ASK\\((\\w+(?:\\.\\w+)*)\\)",
				     "\\[NET:\\s*([^\\]\\s]+)\\s*\\]" };
	struct vt_scan_opts o = { .patterns = pats, .npatterns = 2 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	const char *const rows[] = {
		"[NET: b.io] then ASK(a.io)",
		"[NETWORK_REQUEST: c.io]", /* default pattern not active */
	};
	cr_assert_eq(SCREEN(rows, 0), 2);
	cr_assert_str_eq(reps.r[0].value, "b.io", "line order, not pattern order");
	cr_assert_str_eq(reps.r[1].value, "a.io");
	cr_assert_eq(SCREEN(rows, 10), 0);
}

Test(scan, pattern_without_group_uses_whole_match)
{
	vt_scan_free(scan);
	const char *const pats[] = { "host=[a-z.]+" };
	struct vt_scan_opts o = { .patterns = pats, .npatterns = 1 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	const char *const rows[] = { "need host=pypi.org now" };
	cr_assert_eq(SCREEN(rows, 0), 1);
	cr_assert_str_eq(reps.r[0].value, "host=pypi.org");
}

Test(scan, redundant_patterns_report_once)
{
	vt_scan_free(scan);
	const char *const pats[] = { VT_SCAN_DEFAULT_PATTERN,
				     "\\[NETWORK_REQUEST: (\\S+)\\]" };
	struct vt_scan_opts o = { .patterns = pats, .npatterns = 2 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), 0);
	const char *const rows[] = { "[NETWORK_REQUEST: pypi.org]" };
	cr_assert_eq(SCREEN(rows, 0), 1);
}

Test(scan, invalid_pattern_einval_with_message)
{
	vt_scan_free(scan);
	const char *const pats[] = { "ok(\\w+)", "(abc" };
	struct vt_scan_opts o = { .patterns = pats, .npatterns = 2 };
	char err[256] = "";
	scan = (struct vt_scan *)1;
	cr_assert_eq(vt_scan_new(&scan, &o, err, sizeof(err)), -EINVAL);
	cr_assert_null(scan);
	cr_assert(strstr(err, "pattern 2: ") == err, "err: %s", err);
	cr_assert(strstr(err, "missing closing parenthesis"), "err: %s", err);
	cr_assert(strstr(err, "at offset 4"), "err: %s", err);

	/* NULL err buffer and a NULL entry are handled too. */
	const char *const nul[] = { NULL };
	o = (struct vt_scan_opts){ .patterns = nul, .npatterns = 1 };
	cr_assert_eq(vt_scan_new(&scan, &o, NULL, 0), -EINVAL);
	cr_assert_eq(vt_scan_new(NULL, NULL, NULL, 0), -EINVAL);
}

Test(scan, invalid_arguments)
{
	cr_assert_eq(vt_scan_frame(scan, NULL, collect, &reps), -EINVAL);
	struct vt_scan_input in = { .nrows = 2 };
	cr_assert_eq(vt_scan_frame(scan, &in, collect, &reps), -EINVAL);
	cr_assert_eq(vt_scan_frame(NULL, &in, collect, &reps), -EINVAL);
}

Test(scan, null_callback_still_counts_and_tracks)
{
	struct vt_scan_input in = { .rows = screen1, .nrows = N(screen1) };
	cr_assert_eq(vt_scan_frame(scan, &in, NULL, NULL), 1);
	cr_assert_eq(vt_scan_frame(scan, &in, NULL, NULL), 0);
}

Test(scan, hostile_invalid_utf8)
{
	const char *const rows[] = {
		"\xff\xfe [NETWORK_REQUEST: pypi.org] \xc3",
		"\xc3\x28 [NETWORK_REQUEST: py\xffpi.org]", /* bad byte in value */
		"\xe2\x82", /* truncated sequence at end */
		NULL,       /* treated as an empty row */
	};
	cr_assert_eq(SCREEN(rows, 0), 1);
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
	cr_assert_eq(SCREEN(rows, 10), 0);
}

Test(scan, hostile_long_lines)
{
	enum { n = 10000 };
	static char line[n + 64];
	memset(line, 'x', n);
	strcpy(line + n, "[NETWORK_REQUEST: pypi.org]");
	const char *rows[] = { line };
	cr_assert_eq(SCREEN(rows, 0), 1);
	cr_assert_str_eq(reps.r[0].value, "pypi.org");
	cr_assert_eq(SCREEN(rows, 10), 0);

	/* Unterminated markers only: no report, no blow-up. */
	const char *open = "[NETWORK_REQUEST:";
	size_t ol = strlen(open);
	for (size_t i = 0; i + ol <= n; i += ol)
		memcpy(line + i, open, ol);
	line[n - n % ol] = '\0';
	cr_assert_eq(SCREEN(rows, 20), 0);

	/* Many markers on one line: each one is an occurrence. */
	const char *m = "[NETWORK_REQUEST: a.io]";
	size_t ml = strlen(m), count = 0;
	line[0] = '\0';
	for (size_t i = 0; i + ml <= n; i += ml, count++)
		memcpy(line + i, m, ml);
	line[count * ml] = '\0';
	cr_assert_eq(SCREEN(rows, 30), (int)count);
	cr_assert_eq(SCREEN(rows, 40), 0);
}

Test(scan, long_values_reported_and_capped)
{
	static char line[4000];
	strcpy(line, "[NETWORK_REQUEST: ");
	size_t p = strlen(line);
	memset(line + p, 'a', 300);
	strcpy(line + p + 300, "]");
	const char *rows[] = { line };
	cr_assert_eq(SCREEN(rows, 0), 1);
	cr_assert_eq(strlen(reps.r[0].value), 300);

	/* 2000-byte value of 2-byte characters: cut to <= 1024, whole chars. */
	for (size_t i = 0; i < 1000; i++)
		memcpy(line + p + 1 + 2 * i, "\xc3\xa9", 2);
	line[p] = 'a'; /* odd offset so the 1024-byte cut falls mid-character */
	strcpy(line + p + 2001, "]");
	cr_assert_eq(SCREEN(rows, 10), 1);
	size_t vl = strlen(reps.r[0].value);
	cr_assert_eq(vl, 1023);
	cr_assert_eq(memcmp(reps.r[0].value + vl - 2, "\xc3\xa9", 2), 0);
}

Test(scan, empty_input)
{
	cr_assert_eq(frame(NULL, 0, NULL, NULL, 0, 0), 0);
	const char *const blank[] = { "", "", "" };
	cr_assert_eq(frame(blank, 3, blank, NULL, 3, 0), 0);
	/* An empty frame retires what was visible; it is still known. */
	cr_assert_eq(SCREEN(screen1, 10), 1);
	cr_assert_eq(frame(NULL, 0, NULL, NULL, 0, 20), 0);
	cr_assert_eq(SCREEN(screen1, 30), 0);
}
