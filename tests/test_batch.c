/* test_batch.c — the batching policy: pacing on a clock passed in, quiet
 * flushes, volatile-only changes, message splitting under the cap, seals
 * and the end of the stream. Results are built by hand. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_batch.h"

#define MAXOPS 1024
#define FENCE 8 /* "```\n" + "\n```": the chat wraps commits in a code fence */

/* A copy of one op (ops are only valid during the callback). */
struct rop {
	enum vt_op_kind kind;
	uint64_t t;
	bool final;
	char **lines;
	size_t nlines;
	char *text;
};

static struct rop ops[MAXOPS];
static size_t nops;
static struct vt_batch *B;

static void record(void *data, const struct vt_op *op)
{
	(void)data;
	cr_assert_lt(nops, MAXOPS);
	struct rop *r = &ops[nops++];
	r->kind = op->kind;
	r->t = op->t_ms;
	r->final = op->final;
	if (op->kind == VT_OP_COMMIT) {
		cr_assert_gt(op->nlines, 0, "an empty COMMIT op");
		r->lines = calloc(op->nlines, sizeof(*r->lines));
		cr_assert_not_null(r->lines);
		for (size_t i = 0; i < op->nlines; i++)
			r->lines[i] = strdup(op->lines[i]);
		r->nlines = op->nlines;
	}
	if (op->kind == VT_OP_LIVE) {
		cr_assert_not_null(op->text);
		r->text = strdup(op->text);
	}
}

static void ops_clear(void)
{
	for (size_t i = 0; i < nops; i++) {
		for (size_t k = 0; k < ops[i].nlines; k++)
			free(ops[i].lines[k]);
		free(ops[i].lines);
		free(ops[i].text);
	}
	memset(ops, 0, sizeof(ops));
	nops = 0;
}

static void open_batch(const struct vt_batch_opts *o)
{
	cr_assert_eq(vt_batch_new(&B, o, record, NULL), 0);
}

static void teardown(void)
{
	vt_batch_free(B);
	B = NULL;
	ops_clear();
}

/* A diff result as the engine makes it: malloc'ed commit lines and live. */
static struct vt_diff_result mk(const char *live, size_t n, const char *const *commit)
{
	struct vt_diff_result r = {0};
	if (live) {
		r.live = strdup(live);
		cr_assert_not_null(r.live);
	}
	if (n) {
		r.commit = calloc(n, sizeof(*r.commit));
		cr_assert_not_null(r.commit);
		for (size_t i = 0; i < n; i++)
			r.commit[i] = strdup(commit[i]);
		r.ncommit = n;
	}
	return r;
}

static void push_live(const char *live, uint64_t t)
{
	struct vt_diff_result r = mk(live, 0, NULL);
	cr_assert_eq(vt_batch_push(B, &r, t), 0);
	cr_assert_null(r.live, "push takes the strings");
}

static size_t count_kind(enum vt_op_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < nops; i++)
		n += ops[i].kind == k;
	return n;
}

/* Characters of a COMMIT message as the chat sees it. */
static size_t message_chars(const struct rop *r)
{
	size_t n = FENCE + (r->nlines ? r->nlines - 1 : 0);
	for (size_t i = 0; i < r->nlines; i++)
		n += vt_utf8_chars(r->lines[i]);
	return n;
}

TestSuite(batch, .fini = teardown);

/* ---- pacing ------------------------------------------------------------- */

/* Output that changes every 100 ms for 10 s: at most one flush a second. */
Test(batch, continuous_changes_flush_at_most_once_per_interval)
{
	open_batch(NULL);
	for (uint64_t t = 0; t <= 10000; t += 100) {
		/* letters, not digits: every change is a real text change */
		char live[64];
		snprintf(live, sizeof(live), "working on %c%c", 'a' + (int)(t / 100 % 26),
			 'a' + (int)(t / 2600 % 26));
		push_live(live, t);
		cr_assert_eq(vt_batch_poll(B, t), 0);
		/* the pipeline also polls at the batch's own deadline */
		uint64_t dl = vt_batch_deadline(B);
		if (dl < t + 100)
			cr_assert_eq(vt_batch_poll(B, dl > t ? dl : t), 0);
	}
	size_t nlive = count_kind(VT_OP_LIVE);
	cr_assert_leq(nlive, 11, "%zu live ops in 10 s", nlive);
	cr_assert_geq(nlive, 5, "continuous output is still shown (%zu ops)", nlive);
	uint64_t prev = 0;
	bool have = false;
	for (size_t i = 0; i < nops; i++) {
		cr_assert_eq(ops[i].kind, VT_OP_LIVE);
		if (have)
			cr_assert_geq(ops[i].t - prev, 1000, "live ops at %llu and %llu",
				      (unsigned long long)prev, (unsigned long long)ops[i].t);
		prev = ops[i].t;
		have = true;
	}
}

/* A change followed by silence goes out quiet_ms after it, but never
 * earlier than min_interval after the previous flush. */
Test(batch, quiet_flush_times)
{
	open_batch(NULL);
	cr_assert_eq(vt_batch_deadline(B), UINT64_MAX, "nothing pending");
	push_live("hello", 1000);
	cr_assert_eq(vt_batch_deadline(B), 1300);
	cr_assert_eq(vt_batch_poll(B, 1299), 0);
	cr_assert_eq(nops, 0);
	cr_assert_eq(vt_batch_poll(B, 1300), 0);
	cr_assert_eq(nops, 1);
	cr_assert_eq(ops[0].kind, VT_OP_LIVE);
	cr_assert_eq(ops[0].t, 1300);
	cr_assert_str_eq(ops[0].text, "hello");
	cr_assert_eq(vt_batch_deadline(B), UINT64_MAX);

	/* 200 ms after the flush: quiet would be 1800, the interval says 2300 */
	push_live("hello world", 1500);
	cr_assert_eq(vt_batch_deadline(B), 2300);
	cr_assert_eq(vt_batch_poll(B, 2299), 0);
	cr_assert_eq(nops, 1);
	cr_assert_eq(vt_batch_poll(B, 2300), 0);
	cr_assert_eq(nops, 2);
	cr_assert_eq(ops[1].t, 2300);
	cr_assert_str_eq(ops[1].text, "hello world");

	/* long after: quiet_ms after the change */
	push_live("hello world!", 9000);
	cr_assert_eq(vt_batch_deadline(B), 9300);
	cr_assert_eq(vt_batch_poll(B, 9300), 0);
	cr_assert_eq(nops, 3);
	cr_assert_eq(ops[2].t, 9300);

	/* a burst: every change restarts the quiet time (within the interval) */
	push_live("a", 20000);
	push_live("ab", 20200);
	push_live("abc", 20400);
	cr_assert_eq(vt_batch_deadline(B), 20700);
	cr_assert_eq(vt_batch_poll(B, 20700), 0);
	cr_assert_eq(nops, 4);
	cr_assert_str_eq(ops[3].text, "abc");
}

/* Custom options are honoured. */
Test(batch, custom_intervals)
{
	struct vt_batch_opts o = {.min_interval_ms = 2000, .quiet_ms = 50,
				  .volatile_interval_ms = 7000};
	open_batch(&o);
	push_live("x", 0);
	cr_assert_eq(vt_batch_deadline(B), 50);
	cr_assert_eq(vt_batch_poll(B, 50), 0);
	push_live("y", 100);
	cr_assert_eq(vt_batch_deadline(B), 2050);
	cr_assert_eq(vt_batch_poll(B, 2050), 0);
	push_live("y 1", 5000); /* a real change ("y" grew) */
	cr_assert_eq(vt_batch_deadline(B), 5050);
	cr_assert_eq(vt_batch_poll(B, 5050), 0);
	push_live("y 2", 5100); /* a digit only */
	cr_assert_eq(vt_batch_deadline(B), 5050 + 7000);
	cr_assert_eq(nops, 3);
}

Test(batch, identical_live_text_never_reemitted)
{
	open_batch(NULL);
	push_live("same", 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	cr_assert_eq(nops, 1);
	push_live("same", 2000);
	cr_assert_eq(vt_batch_deadline(B), UINT64_MAX);
	cr_assert_eq(vt_batch_poll(B, 60000), 0);
	cr_assert_eq(nops, 1);
	/* changed and changed back before the flush: nothing to send */
	push_live("other", 70000);
	push_live("same", 70100);
	cr_assert_eq(vt_batch_deadline(B), UINT64_MAX);
	cr_assert_eq(vt_batch_poll(B, 80000), 0);
	cr_assert_eq(nops, 1);
	/* a result with commits only keeps the live text as it is */
	const char *c[] = {"line"};
	struct vt_diff_result r = mk("same", 1, c);
	cr_assert_eq(vt_batch_push(B, &r, 90000), 0);
	cr_assert_eq(vt_batch_poll(B, 90300), 0);
	cr_assert_eq(nops, 2);
	cr_assert_eq(ops[1].kind, VT_OP_COMMIT);
	cr_assert_eq(count_kind(VT_OP_LIVE), 1);
}

/* ---- volatile glyphs ------------------------------------------------------ */

Test(batch, volatile_only_change_waits_volatile_interval)
{
	open_batch(NULL);
	push_live("✻ Thinking… (12s · esc to interrupt)", 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	cr_assert_eq(nops, 1);
	/* spinner glyph and timer only: waits 5 s after the last flush */
	push_live("✶ Thinking… (13s · esc to interrupt)", 1000);
	cr_assert_eq(vt_batch_deadline(B), 5300);
	cr_assert_eq(vt_batch_poll(B, 5299), 0);
	cr_assert_eq(nops, 1);
	push_live("✳ Thinking… (17s · esc to interrupt)", 5000);
	cr_assert_eq(vt_batch_poll(B, 5300), 0);
	cr_assert_eq(nops, 2);
	cr_assert_eq(ops[1].t, 5300);
	cr_assert_str_eq(ops[1].text, "✳ Thinking… (17s · esc to interrupt)");
	/* a real text change waits only min_interval */
	push_live("✳ Thinking… (18s · esc to interrupt)\nDone.", 5400);
	cr_assert_eq(vt_batch_deadline(B), 6300);
	cr_assert_eq(vt_batch_poll(B, 6300), 0);
	cr_assert_eq(nops, 3);
	/* a commit is never volatile, even when the live text only ticks */
	const char *c[] = {"output line"};
	struct vt_diff_result r = mk("✢ Thinking… (19s · esc to interrupt)\nDone.", 1, c);
	cr_assert_eq(vt_batch_push(B, &r, 6500), 0);
	cr_assert_eq(vt_batch_deadline(B), 7300);
}

Test(batch, volatile_only_truth_table)
{
	static const struct {
		const char *a, *b;
		bool want;
	} cases[] = {
		{"elapsed 12s", "elapsed 13s", true},
		{"12:05:59", "12:06:00", true},
		{"✻ Thinking", "✶ Thinking", true},
		{"✳ Thinking", "✢ Thinking", true},
		{"· Thinking", "✻ Thinking", true},
		{"◐ loading", "◓ loading", true},
		{"⠋ Running", "⠙ Running", true},
		{"⠋ 1/10", "⠼ 2/10", true},
		{"same", "same", true},
		{"", "", true},
		{"elapsed 12s", "elapsed 12m", false},
		{"Thinking", "Thinkinh", false},
		{"✻ Thinking", "✻ Thinking.", false}, /* longer */
		{"9s", "10s", false},                 /* a digit more */
		{"abc", "", false},
		{"a", "1", false},
		{"⠋ Running", "⠋ Runnin", false},
		{"◐ loading", "◐ Loading", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(vt_batch_volatile_only(cases[i].a, cases[i].b), cases[i].want,
			     "'%s' vs '%s'", cases[i].a, cases[i].b);
		cr_assert_eq(vt_batch_volatile_only(cases[i].b, cases[i].a), cases[i].want,
			     "'%s' vs '%s' (swapped)", cases[i].b, cases[i].a);
	}
	cr_assert_not(vt_batch_volatile_only(NULL, "a"));
	cr_assert_not(vt_batch_volatile_only("a", NULL));
}

/* ---- commits and splitting --------------------------------------------------- */

Test(batch, commits_come_before_live_of_same_flush)
{
	open_batch(NULL);
	const char *c1[] = {"one", "two"};
	struct vt_diff_result r = mk("screen 1", 2, c1);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	const char *c2[] = {"three"};
	r = mk("screen 2", 1, c2);
	cr_assert_eq(vt_batch_push(B, &r, 100), 0);
	cr_assert_eq(vt_batch_poll(B, 400), 0);
	cr_assert_eq(nops, 2);
	cr_assert_eq(ops[0].kind, VT_OP_COMMIT);
	cr_assert_eq(ops[0].nlines, 3, "both results' commits in one message");
	cr_assert_str_eq(ops[0].lines[0], "one");
	cr_assert_str_eq(ops[0].lines[2], "three");
	cr_assert_not(ops[0].final);
	cr_assert_eq(ops[1].kind, VT_OP_LIVE);
	cr_assert_str_eq(ops[1].text, "screen 2");
	cr_assert_eq(ops[0].t, 400);
	cr_assert_eq(ops[1].t, 400);
}

/* Every COMMIT message fits the cap; their lines, in order, are exactly the
 * lines pushed. */
static void check_commits_equal(char *const *want, size_t n, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].kind != VT_OP_COMMIT)
			continue;
		cr_assert_leq(message_chars(&ops[i]), cap, "op %zu: %zu chars", i,
			      message_chars(&ops[i]));
		for (size_t j = 0; j < ops[i].nlines; j++, k++) {
			cr_assert_lt(k, n, "more lines than pushed");
			cr_assert_str_eq(ops[i].lines[j], want[k], "line %zu", k);
		}
	}
	cr_assert_eq(k, n, "%zu of %zu lines emitted", k, n);
}

static char **make_lines(size_t n, size_t chars)
{
	/* 100 characters per line with multibyte ones: the cap counts code
	 * points, not bytes */
	static const char *const pieces[] = {"─", "é", "a", "✻", "b", " "};
	char **lines = calloc(n, sizeof(*lines));
	cr_assert_not_null(lines);
	for (size_t i = 0; i < n; i++) {
		char *s = malloc(chars * 4 + 1), *p = s;
		cr_assert_not_null(s);
		int pre = sprintf(p, "%05zu", i);
		p += pre;
		for (size_t c = (size_t)pre; c < chars; c++) {
			const char *g = pieces[(i + c) % 6];
			size_t l = strlen(g);
			memcpy(p, g, l);
			p += l;
		}
		*p = '\0';
		cr_assert_eq(vt_utf8_chars(s), chars);
		lines[i] = s;
	}
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

Test(batch, split_5000_lines_under_cap_nothing_lost)
{
	open_batch(NULL);
	size_t n = 5000;
	char **lines = make_lines(n, 100);
	struct vt_diff_result r = mk("live", n, (const char *const *)lines);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	/* far more than a message: the deadline does not hold it back */
	uint64_t dl = vt_batch_deadline(B);
	cr_assert_leq(dl, 1000);
	cr_assert_eq(vt_batch_poll(B, dl), 0);
	size_t ncommit = count_kind(VT_OP_COMMIT);
	/* 5000 * 101 chars over 16383-char messages: at least 31 of them */
	cr_assert_geq(ncommit, 31, "%zu commit ops", ncommit);
	check_commits_equal(lines, n, 16383);
	cr_assert_eq(ops[nops - 1].kind, VT_OP_LIVE, "live after the commits");
	/* messages are filled, not one line each */
	cr_assert_lt(ncommit, 40);
	free_lines(lines, n);
}

Test(batch, split_with_small_cap)
{
	struct vt_batch_opts o = {.message_cap = 250};
	open_batch(&o);
	size_t n = 200;
	char **lines = make_lines(n, 60);
	struct vt_diff_result r = mk(NULL, n, (const char *const *)lines);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	cr_assert_eq(vt_batch_poll(B, 1000), 0);
	check_commits_equal(lines, n, 250);
	/* 3 lines of 60 + 2 newlines + fence = 190; a 4th would be 251 */
	for (size_t i = 0; i + 1 < nops; i++)
		cr_assert_eq(ops[i].nlines, 3);
	free_lines(lines, n);
}

static char *repeat(const char *g, size_t n)
{
	size_t l = strlen(g);
	char *s = malloc(n * l + 1);
	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * l, g, l);
	s[n * l] = '\0';
	return s;
}

/* Boundaries: a line of exactly cap - fence characters fits one message; an
 * empty line still costs its newline; a line over the cap in the middle is
 * cut without reordering anything around it. */
Test(batch, split_boundaries)
{
	struct vt_batch_opts o = {.message_cap = 100};
	open_batch(&o);
	char *exact = repeat("é", 92), *l45 = repeat("x", 45), *l46 = repeat("─", 46);
	char *huge = repeat("✻", 250);
	const char *in[] = {exact, "", l45, l46, "tail a", huge, "tail b"};
	struct vt_diff_result r = mk(NULL, 7, in);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	cr_assert_eq(vt_batch_poll(B, 1000), 0);
	for (size_t i = 0; i < nops; i++)
		cr_assert_leq(message_chars(&ops[i]), 100, "op %zu", i);
	cr_assert_eq(nops, 7, "%zu ops", nops);
	cr_assert_eq(ops[0].nlines, 1);
	cr_assert_str_eq(ops[0].lines[0], exact);
	/* "" + 45 = 46 chars; + 46 more would be 93 > 92 */
	cr_assert_eq(ops[1].nlines, 2);
	cr_assert_str_eq(ops[1].lines[0], "");
	cr_assert_str_eq(ops[1].lines[1], l45);
	cr_assert_eq(ops[2].nlines, 2);
	cr_assert_str_eq(ops[2].lines[0], l46);
	cr_assert_str_eq(ops[2].lines[1], "tail a");
	/* 250 chars in pieces of 92, 92, 66 */
	char joined[1024] = "";
	for (size_t i = 3; i < 6; i++) {
		cr_assert_eq(ops[i].nlines, 1);
		strcat(joined, ops[i].lines[0]);
	}
	cr_assert_eq(vt_utf8_chars(ops[3].lines[0]), 92);
	cr_assert_str_eq(joined, huge);
	cr_assert_eq(ops[6].nlines, 1);
	cr_assert_str_eq(ops[6].lines[0], "tail b");
	free(exact);
	free(l45);
	free(l46);
	free(huge);
}

/* A line longer than a message is cut into pieces that fit and join back. */
Test(batch, single_huge_line_split_without_cutting_utf8)
{
	open_batch(NULL);
	char **lines = make_lines(1, 40000);
	struct vt_diff_result r = mk(NULL, 1, (const char *const *)lines);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	cr_assert_eq(vt_batch_poll(B, 1000), 0);
	cr_assert_geq(nops, 3);
	size_t total = strlen(lines[0]), off = 0;
	for (size_t i = 0; i < nops; i++) {
		cr_assert_eq(ops[i].kind, VT_OP_COMMIT);
		cr_assert_eq(ops[i].nlines, 1);
		const char *piece = ops[i].lines[0];
		size_t len = strlen(piece);
		cr_assert_gt(len, 0);
		cr_assert_leq(vt_utf8_chars(piece) + FENCE, 16383);
		/* no piece starts with a continuation byte: no sequence was cut */
		cr_assert_neq((unsigned char)piece[0] & 0xc0, 0x80, "piece %zu", i);
		cr_assert_leq(off + len, total);
		cr_assert_eq(memcmp(piece, lines[0] + off, len), 0, "piece %zu", i);
		off += len;
	}
	cr_assert_eq(off, total, "the pieces join back to the line");
	free_lines(lines, 1);
}

/* A screen taller than a message keeps its bottom and says what is hidden. */
Test(batch, live_over_cap_keeps_bottom_with_note)
{
	open_batch(NULL);
	size_t n = 1000;
	char **lines = make_lines(n, 40);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	char *text = malloc(len), *p = text;
	cr_assert_not_null(text);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(lines[i]);
		memcpy(p, lines[i], l);
		p += l;
		*p++ = i + 1 < n ? '\n' : '\0';
	}
	push_live(text, 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	cr_assert_eq(nops, 1);
	const char *out = ops[0].text;
	cr_assert_leq(vt_utf8_chars(out) + FENCE, 16383, "%zu chars", vt_utf8_chars(out));
	size_t hidden = 0;
	int used = 0;
	cr_assert_eq(sscanf(out, "[%zu lines above not shown]\n%n", &hidden, &used), 1,
		     "first line: %.40s", out);
	cr_assert_gt(used, 0);
	const char *shown = out + used;
	/* what is shown is the bottom of the text, from a line start */
	size_t slen = strlen(shown);
	cr_assert_lt(slen, strlen(text));
	cr_assert_str_eq(shown, text + strlen(text) - slen);
	cr_assert_eq(text[strlen(text) - slen - 1], '\n');
	size_t nshown = 1;
	for (const char *q = shown; *q; q++)
		nshown += *q == '\n';
	cr_assert_eq(hidden + nshown, n, "%zu hidden + %zu shown", hidden, nshown);
	/* and it uses most of the room */
	cr_assert_gt(vt_utf8_chars(out), 16383 / 2);
	free(text);
	free_lines(lines, n);
}

/* ---- seal and end ------------------------------------------------------------ */

Test(batch, seal_flushes_at_once_and_starts_a_new_post)
{
	open_batch(NULL);
	push_live("alt screen", 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	cr_assert_eq(nops, 1);
	const char *c[] = {"scrolled in alt"};
	struct vt_diff_result r = mk("alt screen final", 1, c);
	cr_assert_eq(vt_batch_push(B, &r, 400), 0);
	cr_assert_eq(nops, 1, "paced: not yet");
	/* leaving the alternate screen; the next screen happens to show what
	 * the sealed post shows */
	r = mk("alt screen final", 0, NULL);
	r.seal = true;
	cr_assert_eq(vt_batch_push(B, &r, 450), 0);
	cr_assert_eq(nops, 4);
	cr_assert_eq(ops[1].kind, VT_OP_COMMIT);
	cr_assert_str_eq(ops[1].lines[0], "scrolled in alt");
	cr_assert_eq(ops[2].kind, VT_OP_LIVE);
	cr_assert_str_eq(ops[2].text, "alt screen final");
	cr_assert_eq(ops[3].kind, VT_OP_SEAL);
	for (size_t i = 1; i < 4; i++)
		cr_assert_eq(ops[i].t, 450, "the seal flushes at once");
	/* the new post shows its text even though the previous post had it */
	uint64_t dl = vt_batch_deadline(B);
	cr_assert_neq(dl, UINT64_MAX);
	cr_assert_eq(vt_batch_poll(B, dl), 0);
	cr_assert_eq(nops, 5);
	cr_assert_eq(ops[4].kind, VT_OP_LIVE);
	cr_assert_str_eq(ops[4].text, "alt screen final");
}

Test(batch, seal_with_nothing_pending_emits_only_seal)
{
	open_batch(NULL);
	push_live("x", 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	struct vt_diff_result r = mk("", 0, NULL);
	r.seal = true;
	cr_assert_eq(vt_batch_push(B, &r, 5000), 0);
	cr_assert_eq(nops, 2);
	cr_assert_eq(ops[1].kind, VT_OP_SEAL);
	/* an empty screen after the seal makes no new post */
	cr_assert_eq(vt_batch_poll(B, 100000), 0);
	cr_assert_eq(nops, 2);
}

Test(batch, end_emits_pending_then_final_commit_then_end)
{
	open_batch(NULL);
	const char *c[] = {"a", "b"};
	struct vt_diff_result r = mk("a\nb\nc\nd", 2, c);
	cr_assert_eq(vt_batch_push(B, &r, 0), 0);
	cr_assert_eq(nops, 0);
	const char *fc[] = {"c", "d"};
	struct vt_diff_result fin = mk(NULL, 2, fc);
	fin.final = true;
	cr_assert_eq(vt_batch_end(B, &fin, 100), 0);
	cr_assert_eq(fin.ncommit, 0, "end takes the final result");
	cr_assert_eq(nops, 3);
	cr_assert_eq(ops[0].kind, VT_OP_COMMIT);
	cr_assert_eq(ops[0].nlines, 2);
	cr_assert_str_eq(ops[0].lines[0], "a");
	cr_assert_not(ops[0].final);
	cr_assert_eq(ops[1].kind, VT_OP_COMMIT);
	cr_assert_eq(ops[1].nlines, 2);
	cr_assert_str_eq(ops[1].lines[0], "c");
	cr_assert_str_eq(ops[1].lines[1], "d");
	cr_assert(ops[1].final);
	cr_assert_eq(ops[2].kind, VT_OP_END);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(ops[i].t, 100);
}

Test(batch, end_with_sealing_final_emits_live_seal_end)
{
	open_batch(NULL);
	push_live("full-screen app", 0);
	cr_assert_eq(nops, 0);
	struct vt_diff_result fin = {.seal = true, .final = true};
	cr_assert_eq(vt_batch_end(B, &fin, 50), 0);
	cr_assert_eq(nops, 3);
	cr_assert_eq(ops[0].kind, VT_OP_LIVE);
	cr_assert_str_eq(ops[0].text, "full-screen app");
	cr_assert_eq(ops[1].kind, VT_OP_SEAL);
	cr_assert_eq(ops[2].kind, VT_OP_END);
}

/* The final commit is split like any other; only its last message is
 * marked final. */
Test(batch, end_final_commit_split_marks_last_message_final)
{
	struct vt_batch_opts o = {.message_cap = 250};
	open_batch(&o);
	char **lines = make_lines(20, 60);
	struct vt_diff_result fin = mk(NULL, 20, (const char *const *)lines);
	fin.final = true;
	cr_assert_eq(vt_batch_end(B, &fin, 0), 0);
	cr_assert_eq(ops[nops - 1].kind, VT_OP_END);
	cr_assert_geq(nops, 3);
	for (size_t i = 0; i + 1 < nops; i++) {
		cr_assert_eq(ops[i].kind, VT_OP_COMMIT);
		cr_assert_eq(ops[i].final, i + 2 == nops, "op %zu", i);
	}
	check_commits_equal(lines, 20, 250);
	free_lines(lines, 20);
}

Test(batch, empty_live_not_emitted_without_a_post)
{
	open_batch(NULL);
	push_live("", 0);
	cr_assert_eq(vt_batch_poll(B, 300), 0);
	cr_assert_eq(vt_batch_poll(B, 10000), 0);
	cr_assert_eq(nops, 0);
	struct vt_diff_result fin = {.final = true};
	cr_assert_eq(vt_batch_end(B, &fin, 20000), 0);
	cr_assert_eq(nops, 1);
	cr_assert_eq(ops[0].kind, VT_OP_END);
}

Test(batch, message_cap_too_small_is_einval)
{
	struct vt_batch_opts o = {.message_cap = FENCE};
	struct vt_batch *b = NULL;
	cr_assert_eq(vt_batch_new(&b, &o, record, NULL), -EINVAL);
	o.message_cap = 1;
	cr_assert_eq(vt_batch_new(&b, &o, record, NULL), -EINVAL);
	o.message_cap = 0; /* the default */
	cr_assert_eq(vt_batch_new(&b, &o, record, NULL), 0);
	vt_batch_free(b);
}

Test(batch, utf8_chars_counts_code_points)
{
	cr_assert_eq(vt_utf8_chars(""), 0);
	cr_assert_eq(vt_utf8_chars("abc"), 3);
	cr_assert_eq(vt_utf8_chars("é─✻"), 3);
	cr_assert_eq(vt_utf8_chars("😀x"), 2);
}
