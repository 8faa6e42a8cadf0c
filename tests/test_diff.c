/* test_diff.c — the diff engine driven by synthetic terminal streams: a real
 * vt_screen is fed escape sequences, snapshots go through vt_diff_frame and
 * the committed history / live text / seals are checked. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_diff.h"
#include "vt_screen.h"

#define MAXLINES 8192

/* One session: a screen, the engine, and everything it produced so far. */
struct run {
	struct vt_screen *scr;
	struct vt_diff *d;
	char *commits[MAXLINES]; /* the whole committed history, in order */
	size_t ncommit;
	size_t last_ncommit;     /* lines committed by the last call */
	char *live;              /* live text of the last frame */
	bool seal, final;        /* flags of the last call */
	unsigned nseal;          /* seals seen so far */
};

static struct run R;

static void run_open(unsigned cols, unsigned rows)
{
	struct vt_screen_opts o = {.cols = cols, .rows = rows};
	cr_assert_eq(vt_screen_new(&R.scr, &o), 0);
	cr_assert_eq(vt_diff_new(&R.d), 0);
}

static void run_close(void)
{
	for (size_t i = 0; i < R.ncommit; i++)
		free(R.commits[i]);
	free(R.live);
	vt_diff_free(R.d);
	vt_screen_free(R.scr);
	memset(&R, 0, sizeof(R));
}

static void feed(const char *s)
{
	vt_screen_feed(R.scr, s, strlen(s));
}

__attribute__((format(printf, 1, 2))) static void feedf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(buf));
	feed(buf);
}

/* Moves a result's commits into the run's history (taking the strings). */
static void take(struct vt_diff_result *res)
{
	R.last_ncommit = res->ncommit;
	for (size_t i = 0; i < res->ncommit; i++) {
		cr_assert_lt(R.ncommit, MAXLINES);
		R.commits[R.ncommit++] = res->commit[i];
		res->commit[i] = NULL;
	}
	res->ncommit = 0;
	R.seal = res->seal;
	R.final = res->final;
	R.nseal += res->seal;
}

/* Snapshot + diff, the way the pipeline does it. */
static void frame(void)
{
	struct vt_frame f;
	struct vt_diff_result res;
	cr_assert_eq(vt_screen_snapshot(R.scr, &f), 0);
	cr_assert_eq(vt_diff_frame(R.d, &f, &res), 0);
	vt_frame_free(&f);
	cr_assert_not_null(res.live, "a frame always has a live text");
	cr_assert_eq(res.final, false);
	free(R.live);
	R.live = res.live;
	res.live = NULL;
	take(&res);
	vt_diff_result_free(&res);
}

static void end(void)
{
	struct vt_diff_result res;
	cr_assert_eq(vt_diff_end(R.d, &res), 0);
	cr_assert(res.final, "vt_diff_end sets final");
	take(&res);
	vt_diff_result_free(&res);
}

/* How many times line is in the committed history. */
static size_t count(const char *line)
{
	size_t n = 0;
	for (size_t i = 0; i < R.ncommit; i++)
		n += strcmp(R.commits[i], line) == 0;
	return n;
}

/* The committed history is exactly fmt(from) .. fmt(to - 1), starting at
 * history position at. */
static void expect_numbered(size_t at, const char *fmt, int from, int to)
{
	char want[128];
	for (int k = from; k < to; k++) {
		size_t i = at + (size_t)(k - from);
		snprintf(want, sizeof(want), fmt, k);
		cr_assert_lt(i, R.ncommit, "missing commit '%s' (history has %zu lines)",
			     want, R.ncommit);
		cr_assert_str_eq(R.commits[i], want, "commit #%zu", i);
	}
}

static void dump_history(void)
{
	for (size_t i = 0; i < R.ncommit; i++)
		cr_log_info("commit[%zu] = '%s'", i, R.commits[i]);
}

/* "Draws a screen" like a full-screen program: every row is cleared with EL
 * and rewritten at its position with CUP (rows past n, or NULL, stay
 * blank). */
static void draw(const char *const *rows, unsigned n)
{
	unsigned h = vt_screen_rows(R.scr);
	for (unsigned y = 0; y < h; y++)
		feedf("\x1b[%u;1H\x1b[K%s", y + 1, y < n && rows[y] ? rows[y] : "");
}

/* Prints fmt(from) .. fmt(to - 1), each followed by CRLF. */
static void print_lines(const char *fmt, int from, int to)
{
	char line[128];
	for (int k = from; k < to; k++) {
		snprintf(line, sizeof(line), fmt, k);
		feed(line);
		feed("\r\n");
	}
}

TestSuite(diff, .fini = run_close);

/* ---- 1. inline scrolling ----------------------------------------------- */

/* A shell printing 100 lines on a 10-row screen, snapshots in between: what
 * scrolled off is committed as it happens, the rest at the end. */
Test(diff, inline_scroll_in_chunks_commits_each_line_once_in_order)
{
	run_open(40, 10);
	static const int cuts[] = {3, 9, 10, 11, 25, 26, 60, 99, 100};
	int done = 0;
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		print_lines("line %d", done, cuts[c]);
		done = cuts[c];
		frame();
		/* n lines each ending in CRLF on 10 rows: n - 9 left the top. */
		int scrolled = done > 9 ? done - 9 : 0;
		cr_assert_eq(R.ncommit, (size_t)scrolled, "after %d lines", done);
		expect_numbered(0, "line %d", 0, scrolled);
	}
	end();
	cr_assert(R.final);
	cr_assert_eq(R.last_ncommit, 9, "the final commit holds the rows on screen");
	cr_assert_eq(R.ncommit, 100);
	expect_numbered(0, "line %d", 0, 100);
}

/* The same 100 lines between two snapshots (one frame sees 91 scrolled). */
Test(diff, inline_scroll_one_chunk_of_100_lines)
{
	run_open(40, 10);
	frame(); /* an empty first frame */
	cr_assert_eq(R.ncommit, 0);
	cr_assert_str_eq(R.live, "");
	print_lines("line %d", 0, 100);
	frame();
	cr_assert_eq(R.ncommit, 91);
	expect_numbered(0, "line %d", 0, 91);
	cr_assert_str_eq(R.live, "line 91\nline 92\nline 93\nline 94\nline 95\n"
				 "line 96\nline 97\nline 98\nline 99");
	end();
	cr_assert_eq(R.ncommit, 100);
	expect_numbered(0, "line %d", 0, 100);
}

/* ---- 2. a fixed input box at the bottom ---------------------------------- */

#define BOX_RULE "────────────────────"

/* One batch of Claude Code's inline mode: go to the box, overwrite it with
 * k new content lines (which scroll once the bottom is reached), redraw the
 * box below. *top is the box's first row (0-based) and is updated. */
static void box_batch(unsigned *top, int *next, int k)
{
	unsigned rows = vt_screen_rows(R.scr);
	feedf("\x1b[%u;1H", *top + 1);
	for (int i = 0; i < k; i++)
		feedf("\x1b[Kreply %d\r\n", (*next)++);
	feed("\x1b[K" BOX_RULE "\r\n\x1b[K> \r\n\x1b[K" BOX_RULE);
	*top += (unsigned)k;
	if (*top > rows - 3)
		*top = rows - 3;
}

Test(diff, input_box_is_learned_fixed_and_never_committed)
{
	run_open(40, 10);
	feed(BOX_RULE "\r\n> \r\n" BOX_RULE);
	frame();
	unsigned top = 0;
	int next = 0;
	/* Varied batch sizes: the box first moves down, then sits at the bottom
	 * while content scrolls above it (one batch scrolls more than a
	 * screen). A scroll of 2 is the ambiguous case (the two rules match
	 * each other two rows apart; the next test has only those), so here
	 * the scrolls of 1 and 3 teach the box. */
	static const int ks[] = {3, 2, 4, 1, 5, 3, 2, 6, 1, 12, 2};
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		box_batch(&top, &next, ks[i]);
		frame();
		cr_assert_eq(count(BOX_RULE), 0, "batch %zu committed the box rule", i);
		cr_assert_eq(count(">"), 0, "batch %zu committed the prompt", i);
	}
	/* Rows are compared as trimmed text: "> " is ">". */
	cr_assert(vt_diff_is_fixed(R.d, BOX_RULE));
	cr_assert(vt_diff_is_fixed(R.d, ">"));
	cr_assert_not(vt_diff_is_fixed(R.d, "reply 0"));
	cr_assert(strstr(R.live, BOX_RULE "\n>\n" BOX_RULE) != NULL,
		  "the live text shows the box: '%s'", R.live);
	end();
	dump_history();
	cr_assert_eq(count(BOX_RULE), 0, "the final commit skips the box");
	cr_assert_eq(count(">"), 0);
	cr_assert_eq(R.ncommit, (size_t)next, "every content line once");
	expect_numbered(0, "reply %d", 0, next);
}

/* Two new lines per batch: every frame scrolls by 2, where the bottom rule
 * also matches the top rule two rows up. The prompt row between them is
 * still evidence of a fixed box, and the box must not reach the history. */
Test(diff, input_box_with_two_line_batches_never_committed)
{
	run_open(40, 10);
	feed(BOX_RULE "\r\n> \r\n" BOX_RULE);
	frame();
	unsigned top = 0;
	int next = 0;
	for (int i = 0; i < 12; i++) {
		box_batch(&top, &next, 2);
		frame();
	}
	cr_assert_eq(count(BOX_RULE), 0);
	end();
	dump_history();
	cr_assert_eq(count(BOX_RULE), 0, "the final commit skips the box");
	cr_assert_eq(count(">"), 0);
	expect_numbered(0, "reply %d", 0, next);
	cr_assert_eq(R.ncommit, (size_t)next);
}

/* ---- 3. alternate screen, in-place scroll ---------------------------------- */

#define STATUS "-- INSERT --  status: ready"

/* Content rows 0..6 show msg first .. first+6, row 9 is a status row. */
static void draw_msgs(int first)
{
	char rows[10][32];
	const char *p[10] = {0};
	for (int i = 0; i < 7; i++) {
		snprintf(rows[i], sizeof(rows[i]), "msg %d", first + i);
		p[i] = rows[i];
	}
	p[9] = STATUS;
	draw(p, 10);
}

Test(diff, alt_screen_in_place_scroll_commits_top_rows_once)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	draw_msgs(0);
	frame();
	cr_assert_eq(R.ncommit, 0);
	/* The same frame again (pure repaint): nothing. */
	draw_msgs(0);
	frame();
	cr_assert_eq(R.ncommit, 0);
	int first = 0;
	static const int shifts[] = {2, 2, 2, 1, 3, 2};
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		first += shifts[i];
		draw_msgs(first);
		frame();
		cr_assert_eq(R.last_ncommit, (size_t)shifts[i], "shift %zu", i);
		/* the rows that moved out at the top, in order, once */
		expect_numbered(0, "msg %d", 0, first);
		cr_assert_eq(R.ncommit, (size_t)first);
		/* a repaint of the same frame commits nothing more */
		draw_msgs(first);
		frame();
		cr_assert_eq(R.last_ncommit, 0);
	}
	cr_assert(vt_diff_is_fixed(R.d, STATUS));
	cr_assert_eq(count(STATUS), 0);
	end();
	cr_assert(R.seal, "ending in the alternate screen seals");
	cr_assert_eq(R.last_ncommit, 0);
	cr_assert_eq(count(STATUS), 0);
	for (int k = 0; k < first + 7; k++) {
		char want[32];
		snprintf(want, sizeof(want), "msg %d", k);
		cr_assert_leq(count(want), 1, "'%s' committed twice", want);
	}
}

/* Known limitation, pinned so a change is noticed: a full-screen program
 * with a title row above content that scrolls in place. One frame cannot
 * tell this from a collapse of the rows under the title (which must commit
 * nothing, see below), so the engine commits nothing here: the lines stay
 * visible in the live post only. Claude Code has no such title row. */
Test(diff, limitation_scroll_below_a_fixed_title_row_commits_nothing)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	char buf[10][32];
	const char *p[10] = {0};
	p[0] = "== Conversation ==";
	p[9] = STATUS;
	for (int first = 0; first <= 8; first += 2) {
		for (int i = 0; i < 7; i++) {
			snprintf(buf[i], sizeof(buf[i]), "msg %d", first + i);
			p[i + 1] = buf[i];
		}
		draw(p, 10);
		frame();
	}
	cr_assert_eq(R.ncommit, 0);
	cr_assert_eq(count("== Conversation =="), 0);
	cr_assert_not_null(strstr(R.live, "msg 14"), "the live text still shows the content");
}

/* ---- 4. collapse in the middle ------------------------------------------ */

Test(diff, collapse_in_the_middle_commits_nothing)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	const char *before[] = {"item 0", "item 1", "item 2", "item 3", "item 4",
				"item 5", "item 6", "item 7", "item 8", STATUS};
	draw(before, 10);
	frame();
	/* rows 3-5 removed, the rows below move up, the top stays */
	const char *after[] = {"item 0", "item 1", "item 2", "item 6", "item 7",
			       "item 8", NULL, NULL, NULL, STATUS};
	draw(after, 10);
	frame();
	cr_assert_eq(R.ncommit, 0);
	cr_assert_str_eq(R.live, "item 0\nitem 1\nitem 2\nitem 6\nitem 7\nitem 8\n\n" STATUS);
}

/* More rows move up than stay in place, so "shifted up by 4" scores best;
 * the top rows did not move, so it is still a collapse, not a scroll. */
Test(diff, collapse_with_more_moved_than_kept_rows_commits_nothing)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	const char *before[] = {"item 0", "item 1", "item 2", "item 3", "item 4",
				"item 5", "item 6", "item 7", "item 8"};
	draw(before, 9);
	frame();
	const char *after[] = {"item 0", "item 1", "item 6", "item 7", "item 8"};
	draw(after, 5);
	frame();
	cr_assert_eq(R.ncommit, 0);
	/* and the same on the main screen (erase below, reprint) */
	run_close();
	run_open(40, 10);
	for (int i = 0; i < 9; i++)
		feedf("\x1b[%d;1Hitem %d", i + 1, i);
	frame();
	feed("\x1b[3;1H\x1b[Jitem 6\r\nitem 7\r\nitem 8");
	frame();
	cr_assert_eq(R.ncommit, 0);
	end();
	dump_history();
	/* only what is on screen at the end: removed rows never reach history */
	cr_assert_eq(R.ncommit, 5);
	cr_assert_str_eq(R.commits[2], "item 6");
	cr_assert_eq(count("item 3"), 0);
}

/* ---- 5. repaint only ---------------------------------------------------- */

Test(diff, repaint_only_changes_live_not_history)
{
	run_open(40, 10);
	feed("Tool output\r\n\r\n✻ Thinking… (3s)\r\n> ");
	frame();
	cr_assert_str_eq(R.live, "Tool output\n\n✻ Thinking… (3s)\n>");
	/* the spinner glyph and timer change in place, the cursor moves */
	feed("\x1b[3;1H✶\x1b[3;14H4\x1b[4;3H");
	frame();
	cr_assert_eq(R.ncommit, 0);
	cr_assert_str_eq(R.live, "Tool output\n\n✶ Thinking… (4s)\n>");
	feed("\x1b[3;1H✳\x1b[1;1H");
	frame();
	cr_assert_eq(R.ncommit, 0);
	cr_assert_str_eq(R.live, "Tool output\n\n✳ Thinking… (4s)\n>");

	/* the same in the alternate screen */
	feed("\x1b[?1049h");
	const char *a[] = {"header", "", "⠋ Loading", "", "footer"};
	draw(a, 5);
	frame();
	const char *b[] = {"header", "", "⠙ Loading", "", "footer"};
	draw(b, 5);
	feed("\x1b[1;1H");
	frame();
	cr_assert_eq(R.ncommit, 0);
	cr_assert_str_eq(R.live, "header\n\n⠙ Loading\n\nfooter");
}

/* ---- 6./7. leaving and ending in the alternate screen --------------------- */

Test(diff, leaving_alt_screen_seals_and_commits_nothing_from_it)
{
	run_open(40, 10);
	print_lines("before %d", 0, 15); /* 6 scroll off, 9 stay */
	frame();
	cr_assert_eq(R.ncommit, 6);
	feed("\x1b[?1049h");
	const char *a[] = {"ALT title", "ALT body 1", "ALT body 2", NULL, NULL,
			   NULL, NULL, NULL, NULL, "ALT status"};
	draw(a, 10);
	frame();
	cr_assert_eq(R.last_ncommit, 0);
	cr_assert_not(R.seal);
	const char *b[] = {"ALT title", "ALT body 1 changed", "ALT body 2", NULL,
			   NULL, NULL, NULL, NULL, NULL, "ALT status"};
	draw(b, 10);
	frame();
	cr_assert_eq(R.last_ncommit, 0);
	feed("\x1b[?1049l");
	frame();
	cr_assert(R.seal, "leaving the alternate screen seals the live post");
	cr_assert_eq(R.nseal, 1);
	cr_assert_eq(R.last_ncommit, 0);
	cr_assert(strstr(R.live, "before 14") != NULL, "main screen restored: '%s'",
		  R.live);
	cr_assert(strstr(R.live, "ALT") == NULL);
	/* the shell goes on: the restored rows scroll off */
	print_lines("after %d", 0, 5);
	frame();
	cr_assert_not(R.seal);
	end();
	dump_history();
	cr_assert_not(R.seal);
	expect_numbered(0, "before %d", 0, 15);
	expect_numbered(15, "after %d", 0, 5);
	cr_assert_eq(R.ncommit, 20);
	for (size_t i = 0; i < R.ncommit; i++)
		cr_assert(strncmp(R.commits[i], "ALT", 3) != 0);
}

Test(diff, ending_in_alt_screen_seals_without_commit)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	const char *a[] = {"editor line 1", "editor line 2", NULL, "~", "~"};
	draw(a, 5);
	frame();
	end();
	cr_assert(R.seal);
	cr_assert(R.final);
	cr_assert_eq(R.ncommit, 0);
}

/* ---- 8. clear and reprint ------------------------------------------------ */

static void clear_and_reprint(bool frame_between)
{
	run_open(40, 10);
	print_lines("line %d", 0, 30); /* 21 scroll off */
	frame();
	cr_assert_eq(R.ncommit, 21);
	feed("\x1b[2J\x1b[3J\x1b[H");
	if (frame_between) {
		frame(); /* the rows on screen at the clear left the view */
		cr_assert_eq(R.ncommit, 30);
		print_lines("line %d", 0, 12);
		frame();
		print_lines("line %d", 12, 30);
		frame();
	} else {
		print_lines("line %d", 0, 30);
	}
	print_lines("new %d", 0, 5);
	frame();
	end();
	dump_history();
	for (int k = 0; k < 30; k++) {
		char want[32];
		snprintf(want, sizeof(want), "line %d", k);
		cr_assert_eq(count(want), 1, "'%s' committed %zu times", want, count(want));
	}
	expect_numbered(0, "line %d", 0, 30);
	expect_numbered(30, "new %d", 0, 5);
	cr_assert_eq(R.ncommit, 35);
}

Test(diff, clear_and_reprint_in_one_frame_not_committed_twice)
{
	clear_and_reprint(false);
}

Test(diff, clear_and_reprint_over_several_frames_not_committed_twice)
{
	clear_and_reprint(true);
}

/* The guard only drops a reprint that starts right after the clear: a
 * shell that clears, prints something new, and then prints lines it printed
 * before (the same command run again) keeps all of them in the history. */
Test(diff, repeated_output_after_new_output_is_kept)
{
	run_open(40, 10);
	print_lines("line %d", 0, 30);
	frame();
	feed("\x1b[2J\x1b[3J\x1b[H");
	print_lines("$ cat again %d", 0, 1);
	print_lines("line %d", 0, 30);
	frame();
	end();
	for (int k = 0; k < 30; k++) {
		char want[32];
		snprintf(want, sizeof(want), "line %d", k);
		cr_assert_eq(count(want), 2, "'%s' committed %zu times", want, count(want));
	}
	cr_assert_eq(count("$ cat again 0"), 1);
}

/* ---- 9. resize ------------------------------------------------------------ */

/* A full-screen program: the bottom 'rows - 1' lines of a document and a
 * status row, repainted at every size. */
static void draw_doc(void)
{
	unsigned rows = vt_screen_rows(R.scr);
	const char *p[64] = {0};
	char buf[64][32];
	for (unsigned i = 0; i + 1 < rows && i < 63; i++) {
		snprintf(buf[i], sizeof(buf[i]), "doc %u", i);
		p[i] = buf[i];
	}
	p[rows - 1] = STATUS;
	draw(p, rows);
}

static void resize_alt(bool frame_between)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	draw_doc();
	frame();
	static const unsigned sizes[][2] = {{30, 6}, {50, 14}, {40, 4}, {40, 10}};
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(vt_screen_resize(R.scr, sizes[i][0], sizes[i][1]), 0);
		if (frame_between)
			frame();
		draw_doc();
		frame();
		cr_assert_eq(R.ncommit, 0, "resize %zu committed '%s'", i,
			     R.ncommit ? R.commits[0] : "");
		cr_assert(strstr(R.live, STATUS) != NULL);
	}
	end();
	cr_assert(R.seal);
	cr_assert_eq(R.ncommit, 0);
}

Test(diff, resize_alt_screen_repaint_not_committed)
{
	resize_alt(false);
}

Test(diff, resize_alt_screen_repaint_after_resize_frame_not_committed)
{
	resize_alt(true);
}

/* Claude Code's inline mode answers a resize by clearing screen and
 * scrollback and reprinting the whole conversation. With frame_between the
 * pipeline took a frame between the resize and the repaint; without it (the
 * usual case: the repaint arrives within the 16 ms frame window) one frame
 * carries the resize, the clear and the reprint. */
static void resize_main_reprint(unsigned cols, unsigned rows, bool frame_between)
{
	run_open(40, 10);
	print_lines("line %d", 0, 15); /* 0..5 scroll off, 6..14 stay */
	frame();
	cr_assert_eq(R.ncommit, 6);
	cr_assert_eq(vt_screen_resize(R.scr, cols, rows), 0);
	if (frame_between)
		frame();
	feed("\x1b[2J\x1b[3J\x1b[H");
	print_lines("line %d", 0, 15);
	frame();
	print_lines("after %d", 0, 3);
	frame();
	end();
	dump_history();
	for (int k = 0; k < 15; k++) {
		char want[32];
		snprintf(want, sizeof(want), "line %d", k);
		cr_assert_eq(count(want), 1, "'%s' committed %zu times", want, count(want));
	}
	expect_numbered(0, "line %d", 0, 15);
	expect_numbered(15, "after %d", 0, 3);
	cr_assert_eq(R.ncommit, 18);
}

Test(diff, resize_smaller_main_clear_and_reprint_in_same_frame)
{
	resize_main_reprint(40, 6, false);
}

Test(diff, resize_smaller_main_clear_and_reprint_after_resize_frame)
{
	resize_main_reprint(40, 6, true);
}

Test(diff, resize_larger_main_clear_and_reprint_in_same_frame)
{
	resize_main_reprint(50, 14, false);
}

Test(diff, resize_larger_main_clear_and_reprint_after_resize_frame)
{
	resize_main_reprint(50, 14, true);
}

/* A shell does not repaint: it only redraws its prompt line. Lines libtsm
 * pushes out while shrinking are dropped by vt_screen ("they are still in
 * the previous frame"), so the engine has to keep them. */
Test(diff, resize_shrink_of_shell_keeps_every_line_once)
{
	run_open(40, 10);
	print_lines("out %d", 0, 9);
	feed("$ ");
	frame();
	cr_assert_eq(R.ncommit, 0);
	cr_assert_eq(vt_screen_resize(R.scr, 40, 5), 0);
	feed("\r\x1b[K$ ");
	frame();
	cr_assert_eq(vt_screen_resize(R.scr, 40, 10), 0);
	feed("\r\x1b[K$ ");
	frame();
	end();
	dump_history();
	expect_numbered(0, "out %d", 0, 9);
	cr_assert_eq(R.ncommit, 10);
	cr_assert_str_eq(R.commits[9], "$");
}

/* ---- 10. blank lines in the history --------------------------------------- */

Test(diff, blank_lines_leading_dropped_runs_collapsed)
{
	run_open(40, 5);
	feed("\r\n\r\n\r\n"); /* leading blank lines */
	frame();
	/* scrolls off "", "", "", "a": the blanks come first and are dropped */
	feed("a\r\n\r\n\r\n\r\nb\r\n");
	frame();
	cr_assert_eq(R.ncommit, 1);
	cr_assert_str_eq(R.commits[0], "a");
	/* scrolls off two of the three blank lines between "a" and "b"; the
	 * third follows in the next frame: the run stays one blank line */
	feed("c\r\n\r\n");
	frame();
	cr_assert_eq(R.ncommit, 2);
	cr_assert_str_eq(R.commits[1], "");
	feed("\r\n\r\nd\r\n");
	print_lines("fill %d", 0, 6);
	frame();
	end();
	dump_history();
	const char *want[] = {"a", "", "b", "c", "", "d", "fill 0", "fill 1",
			      "fill 2", "fill 3", "fill 4", "fill 5"};
	cr_assert_eq(R.ncommit, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < R.ncommit; i++)
		cr_assert_str_eq(R.commits[i], want[i], "commit #%zu", i);
}

/* ---- 11. live text ---------------------------------------------------------- */

Test(diff, live_text_trims_edge_blank_rows_and_collapses_runs)
{
	run_open(40, 10);
	feed("\x1b[?1049h");
	const char *rows[] = {NULL, "top", NULL, NULL, NULL, "mid", NULL,
			      "  bottom  ", NULL, NULL};
	draw(rows, 10);
	frame();
	cr_assert_str_eq(R.live, "top\n\nmid\n\n  bottom");
	const char *none[] = {NULL};
	draw(none, 0);
	frame();
	cr_assert_str_eq(R.live, "");
	const char *one[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "last"};
	draw(one, 10);
	frame();
	cr_assert_str_eq(R.live, "last");
}

/* ---- 12. identical lines really scrolling --------------------------------- */

static void yes_lines(int chunk)
{
	run_open(40, 10);
	int printed = 0;
	while (printed < 200) {
		int n = 200 - printed < chunk ? 200 - printed : chunk;
		for (int i = 0; i < n; i++)
			feed("y\r\n");
		printed += n;
		frame();
		int scrolled = printed > 9 ? printed - 9 : 0;
		cr_assert_eq(R.ncommit, (size_t)scrolled, "after %d lines: %zu committed",
			     printed, R.ncommit);
	}
	cr_assert_not(vt_diff_is_fixed(R.d, "y"), "'y' learned as a fixed row");
	end();
	cr_assert_eq(count("y"), 200);
	cr_assert_eq(R.ncommit, 200);
}

Test(diff, yes_output_committed_small_chunks)
{
	yes_lines(4);
}

Test(diff, yes_output_committed_chunks_of_a_screen)
{
	yes_lines(9);
}

Test(diff, yes_output_committed_one_big_chunk)
{
	yes_lines(50);
}
