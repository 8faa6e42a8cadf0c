/* test_screen.c — vt_screen behaviour through libtsm 4.0.2: what the
 * pre-filter fixes (DECRQM, CSI s/u, CSI 3 J, query answers), what the
 * screen layer adds (scrolled lines, bounded history, cursor un-inversion,
 * resize events, modes), and the libtsm limitations it does NOT fix
 * (asserted as they are now, so that a change is noticed).
 *
 * The `regression` suite holds defects of vt/ these tests found, now fixed
 * (asserting what tmux, the reference terminal, does). */
#include <criterion/criterion.h>
#include <errno.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_filter.h" /* VT_MODE_* */
#include "vt_screen.h"

/* ---- helpers ---- */

/* Replies the screen sends back to the program. */
static char replies[4096];
static size_t nreplies;

static void on_reply(void *data, const char *b, size_t n)
{
	(void)data;
	cr_assert_lt(nreplies + n, sizeof(replies));
	memcpy(replies + nreplies, b, n);
	nreplies += n;
	replies[nreplies] = '\0';
}

static struct vt_screen *screen(unsigned cols, unsigned rows, unsigned sb)
{
	struct vt_screen *s;
	struct vt_screen_opts o = {.cols = cols, .rows = rows,
				   .scrollback_lines = sb, .reply = on_reply};
	cr_assert_eq(vt_screen_new(&s, &o), 0);
	nreplies = 0;
	replies[0] = '\0';
	return s;
}

static void put(struct vt_screen *s, const char *str)
{
	vt_screen_feed(s, str, strlen(str));
}

static void putf(struct vt_screen *s, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(b));
	vt_screen_feed(s, b, (size_t)n);
}

static void snap(struct vt_screen *s, struct vt_frame *f)
{
	cr_assert_eq(vt_screen_snapshot(s, f), 0);
}

/* Row text (static buffer; valid until the next call). */
static const char *row(const struct vt_frame *f, unsigned y)
{
	static char b[4][4 * 4096 + 1];
	static int k;
	char *o = b[k++ & 3];
	cr_assert_eq(vt_frame_row_cap(f) <= sizeof(b[0]), true);
	int n = vt_frame_row_text(f, y, o, sizeof(b[0]));
	cr_assert_geq(n, 0);
	return o;
}

/* Whole-screen text (caller frees). */
static char *text(const struct vt_frame *f)
{
	char *t = NULL;
	cr_assert_eq(vt_frame_text(f, &t, NULL), 0);
	return t;
}

/* A growable byte string, for large inputs. */
struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0,
				  fmt, ap);
		va_end(ap);
		cr_assert_geq(n, 0);
		if (b->p && b->n + (size_t)n < b->cap) {
			b->n += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->n + (size_t)n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		cr_assert_not_null(b->p);
		b->cap = cap;
	}
}

static bool cells_equal(const struct vt_cell *a, const struct vt_cell *b)
{
	return a->ch == b->ch && a->width == b->width && a->attrs == b->attrs &&
	       a->fg_code == b->fg_code && a->bg_code == b->bg_code &&
	       memcmp(a->fg, b->fg, 3) == 0 && memcmp(a->bg, b->bg, 3) == 0;
}

/* ---- DECRQM, CSI s/u, CSI 3 J: the pre-filter's fixes, end to end ---- */

/* libtsm 4.0.2 soft-resets on DECRQM and leaves the alternate screen;
 * Claude Code sends DECRQM ?2026 at start-up, inside its alt screen. */
Test(screen, decrqm_inside_alt_screen_keeps_it)
{
	struct vt_screen *s = screen(20, 4, 0);
	put(s, "main\x1b[?1049h\x1b[H\x1b[?25lALT\r\nscreen");
	struct vt_frame before, after;
	snap(s, &before);
	cr_assert(before.alt_screen);
	put(s, "\x1b[?2026$p\x1b[?1049$p\x1b[?25$p\x1b[2$p");
	snap(s, &after);
	cr_expect(after.alt_screen, "DECRQM left the alternate screen");
	cr_expect(vt_screen_alt_active(s));
	cr_expect_not(after.cursor_visible, "DECRQM reset ?25");
	cr_expect_eq(after.cursor_x, before.cursor_x);
	cr_expect_eq(after.cursor_y, before.cursor_y);
	char *t1 = text(&before), *t2 = text(&after);
	cr_expect_str_eq(t2, t1);
	free(t1);
	free(t2);
	cr_expect_str_eq(replies, "\x1b[?2026;2$y\x1b[?1049;1$y\x1b[?25;2$y\x1b[2;0$y");
	/* and drawing goes on in the alternate screen */
	put(s, "\x1b[3;1Hmore");
	vt_frame_free(&after);
	snap(s, &after);
	cr_expect(after.alt_screen);
	cr_expect_str_eq(row(&after, 0), "ALT");
	cr_expect_str_eq(row(&after, 2), "more");
	vt_frame_free(&before);
	vt_frame_free(&after);
	vt_screen_free(s);
}

/* SCOSC / SCORC, which libtsm 4.0.2 ignores ("abcdX"). */
Test(screen, csi_s_and_u_save_and_restore_the_cursor)
{
	struct vt_screen *s = screen(20, 3, 0);
	put(s, "ab\x1b[scd\x1b[uX");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "abXd");
	cr_expect_eq(f.cursor_x, 3);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* libtsm ignores CSI 3 J; the screen layer empties its history, but lines
 * that scrolled off before the erase are real output and still reach the
 * next snapshot's `scrolled`. */
Test(screen, erase_scrollback_empties_history_but_keeps_scrolled)
{
	struct vt_screen *s = screen(10, 4, 0);
	for (int i = 1; i <= 9; i++)
		putf(s, "%d\r\n", i); /* 1..6 scroll off */
	put(s, "\x1b[2J\x1b[3J\x1b[H");
	cr_expect_eq(vt_screen_history_len(s), 0);
	struct vt_frame f;
	snap(s, &f);
	cr_expect_eq(vt_screen_history_len(s), 0);
	cr_assert_eq(f.nscrolled, 6);
	for (size_t i = 0; i < 6; i++) {
		char want[8];
		snprintf(want, sizeof(want), "%zu", i + 1);
		cr_expect_str_eq(f.scrolled[i], want);
	}
	cr_expect(f.events & VT_FRAME_CLEARED);
	vt_frame_free(&f);

	/* new output scrolls into the emptied history; nothing old returns */
	put(s, "a\r\nb\r\nc\r\nd\r\ne\r\nf");
	snap(s, &f);
	cr_assert_eq(f.nscrolled, 2);
	cr_expect_str_eq(f.scrolled[0], "a");
	cr_expect_str_eq(f.scrolled[1], "b");
	cr_assert_eq(vt_screen_history_len(s), 2);
	cr_expect_str_eq(vt_screen_history_line(s, 0), "a");
	cr_expect_str_eq(vt_screen_history_line(s, 1), "b");
	cr_expect_null(vt_screen_history_line(s, 2));
	cr_expect_eq(f.events & VT_FRAME_CLEARED, 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- scrolled lines and the bounded history ---- */

Test(screen, scrolled_lines_arrive_in_order_and_history_is_bounded)
{
	struct vt_screen *s = screen(20, 5, 100);
	struct sbuf in = {0};
	for (int i = 0; i < 1000; i++)
		sb_printf(&in, "line %d\r\n", i);
	/* in a few reads, as a PTY delivers them */
	for (size_t off = 0; off < in.n; off += 1000)
		vt_screen_feed(s, in.p + off, in.n - off < 1000 ? in.n - off : 1000);
	struct vt_frame f;
	snap(s, &f);
	/* 5 rows: the last 4 lines and the cursor's empty row stay on screen */
	cr_assert_eq(f.nscrolled, 996);
	for (size_t i = 0; i < f.nscrolled; i++) {
		char want[32];
		snprintf(want, sizeof(want), "line %zu", i);
		cr_assert_str_eq(f.scrolled[i], want);
	}
	cr_expect_str_eq(row(&f, 0), "line 996");
	cr_expect_str_eq(row(&f, 3), "line 999");
	cr_assert_eq(vt_screen_history_len(s), 100);
	for (size_t i = 0; i < 100; i++) {
		char want[32];
		snprintf(want, sizeof(want), "line %zu", 896 + i);
		cr_assert_str_eq(vt_screen_history_line(s, i), want);
	}
	vt_frame_free(&f);
	/* a snapshot hands each line over once */
	snap(s, &f);
	cr_expect_eq(f.nscrolled, 0);
	vt_frame_free(&f);
	free(in.p);
	vt_screen_free(s);
}

/* libtsm's own scrollback is bounded (the screen layer drains it every 512
 * newlines); one big read must still lose nothing. */
Test(screen, thousands_of_lines_in_one_feed_are_all_collected)
{
	struct vt_screen *s = screen(80, 24, 0);
	struct sbuf in = {0};
	for (int i = 0; i < 5000; i++)
		sb_printf(&in, "%d\r\n", i);
	vt_screen_feed(s, in.p, in.n);
	struct vt_frame f;
	snap(s, &f);
	cr_assert_eq(f.nscrolled, 5000 - 23);
	for (size_t i = 0; i < f.nscrolled; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%zu", i);
		cr_assert_str_eq(f.scrolled[i], want);
	}
	cr_expect_eq(vt_screen_history_len(s), 5000 - 23);
	cr_expect_str_eq(row(&f, 22), "4999");
	vt_frame_free(&f);
	free(in.p);
	vt_screen_free(s);
}

/* Text that autowraps at the bottom row scrolls without any newline. */
Test(screen, autowrapped_lines_are_collected)
{
	struct vt_screen *s = screen(10, 4, 0);
	struct sbuf in = {0};
	for (int i = 0; i < 3000; i++)
		sb_printf(&in, "%010d", i); /* exactly one row each */
	vt_screen_feed(s, in.p, in.n);
	struct vt_frame f;
	snap(s, &f);
	/* the last 4 rows are on screen (the cursor waits at the margin) */
	cr_assert_eq(f.nscrolled, 2996);
	for (size_t i = 0; i < f.nscrolled; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%010zu", i);
		cr_assert_str_eq(f.scrolled[i], want);
	}
	cr_expect_str_eq(row(&f, 3), "0000002999");
	vt_frame_free(&f);
	free(in.p);
	vt_screen_free(s);
}

/* The alternate screen never feeds scrollback. */
Test(screen, alt_screen_scrolling_is_not_collected)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "\x1b[?1049h");
	for (int i = 0; i < 20; i++)
		putf(s, "alt%d\r\n", i);
	put(s, "\x1b[?1049l");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_eq(f.nscrolled, 0);
	cr_expect_eq(vt_screen_history_len(s), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- wide characters ---- */

Test(screen, wide_chars_read_back_in_rows_and_scrolled_lines)
{
	struct vt_screen *s = screen(10, 2, 0);
	put(s, "a\xe4\xb8\xad" "b\xe6\x96\x87\r\n");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "a\xe4\xb8\xad" "b\xe6\x96\x87");
	const struct vt_cell *c = vt_frame_cell(&f, 1, 0);
	cr_expect_eq(c[0].ch, 0x4e2d);
	cr_expect_eq(c[0].width, 2);
	cr_expect_eq(c[1].width, 0);
	cr_expect_eq(vt_frame_cell(&f, 3, 0)->ch, 'b');
	cr_expect_eq(f.row_end[0], 6);
	vt_frame_free(&f);
	put(s, "x\r\ny");
	snap(s, &f);
	cr_assert_eq(f.nscrolled, 1);
	cr_expect_str_eq(f.scrolled[0], "a\xe4\xb8\xad" "b\xe6\x96\x87");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- the cursor ---- */

/* libtsm bakes a visible cursor into the cell as inverse; the frame must
 * not show it, or the cursor moving alone would look like a change. */
Test(screen, cursor_cell_is_not_inverted)
{
	static const char *const streams[] = {
		"hi\r",                   /* cursor on a written cell */
		"hi",                     /* cursor on a blank cell */
		"\x1b[7mhi\x1b[m\r",      /* cursor on reverse-video text */
		"\x1b[31;44mX\x1b[D",     /* coloured */
		"\xe4\xb8\xad\x1b[D",     /* on a wide glyph */
	};
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		struct vt_screen *a = screen(8, 2, 0), *b = screen(8, 2, 0);
		put(a, streams[i]);
		put(b, streams[i]);
		put(b, "\x1b[?25l");
		struct vt_frame fa, fb;
		snap(a, &fa);
		snap(b, &fb);
		cr_expect(fa.cursor_visible);
		cr_expect_not(fb.cursor_visible);
		cr_expect_eq(fa.cursor_x, fb.cursor_x);
		for (unsigned y = 0; y < 2; y++) {
			cr_expect_str_eq(row(&fa, y), row(&fb, y));
			cr_expect_eq(fa.row_hash[y], fb.row_hash[y]);
			for (unsigned x = 0; x < 8; x++)
				cr_expect(cells_equal(vt_frame_cell(&fa, x, y),
						      vt_frame_cell(&fb, x, y)),
					  "stream %zu: cell %u,%u differs with the cursor shown",
					  i, x, y);
		}
		vt_frame_free(&fa);
		vt_frame_free(&fb);
		vt_screen_free(a);
		vt_screen_free(b);
	}
	/* reverse video under the cursor stays reverse */
	struct vt_screen *s = screen(8, 2, 0);
	put(s, "\x1b[7mhi\x1b[m\r");
	struct vt_frame f;
	snap(s, &f);
	cr_expect(vt_frame_cell(&f, 0, 0)->attrs & VT_ATTR_INVERSE);
	cr_expect_eq(vt_frame_cell(&f, 2, 0)->attrs & VT_ATTR_INVERSE, 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- answers to the program's queries ---- */

Test(screen, device_attributes_are_answered)
{
	struct vt_screen *s = screen(80, 24, 0);
	put(s, "\x1b[c");
	cr_expect(strncmp(replies, "\x1b[?", 3) == 0 && replies[nreplies - 1] == 'c',
		  "DA1 reply %zu bytes", nreplies);
	nreplies = 0;
	put(s, "\x1b[>c");
	cr_expect(nreplies > 3 && strncmp(replies, "\x1b[>", 3) == 0 &&
			  replies[nreplies - 1] == 'c',
		  "DA2 reply %zu bytes", nreplies);
	vt_screen_free(s);
}

Test(screen, cursor_position_report_matches_the_cursor)
{
	struct vt_screen *s = screen(80, 24, 0);
	put(s, "\x1b[7;12H\x1b[6n");
	cr_expect_str_eq(replies, "\x1b[7;12R");
	nreplies = 0;
	put(s, "abc\r\n\x1b[6n"); /* after text and a newline */
	cr_expect_str_eq(replies, "\x1b[8;1R");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_eq(f.cursor_x, 0);
	cr_expect_eq(f.cursor_y, 7);
	vt_frame_free(&f);
	nreplies = 0;
	put(s, "\x1b[5n");
	cr_expect_str_eq(replies, "\x1b[0n");
	vt_screen_free(s);
}

/* Claude Code asks for the background colour and waits for the answer. */
Test(screen, osc_colour_queries_are_answered)
{
	struct vt_screen *s = screen(80, 24, 0);
	put(s, "\x1b]11;?\x07");
	cr_expect(strncmp(replies, "\x1b]11;rgb:", 9) == 0, "OSC 11 reply \"%s\"",
		  replies + 1);
	nreplies = 0;
	put(s, "\x1b]10;?\x1b\\");
	cr_expect(strncmp(replies, "\x1b]10;rgb:", 9) == 0, "OSC 10 reply");
	nreplies = 0;
	put(s, "\x1b]11;rgb:1111/2222/3333\x07\x1b]0;title\x07");
	cr_expect_eq(nreplies, 0, "setting colours or the title is not a query");
	vt_screen_free(s);
}

/* We do not implement XTVERSION or the kitty keyboard protocol and must not
 * claim them; neither may leave bytes on the screen. */
Test(screen, xtversion_and_kitty_query_get_no_answer)
{
	struct vt_screen *s = screen(20, 2, 0);
	put(s, "a\x1b[>0qb\x1b[?uc\x1b[>1ud\x1b[<ue");
	cr_expect_eq(nreplies, 0, "unexpected reply \"%s\"", replies + 1);
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "abcde");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* libtsm would take CSI > 4 ; 2 m for SGR 4;2 (underline). */
Test(screen, modify_other_keys_does_not_change_attributes)
{
	struct vt_screen *s = screen(20, 2, 0);
	put(s, "\x1b[>4;2mX\x1b[>4;0mY");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "XY");
	cr_expect_eq(vt_frame_cell(&f, 0, 0)->attrs, 0);
	cr_expect_eq(vt_frame_cell(&f, 1, 0)->attrs, 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- colours ---- */

/* 256-colour and truecolour SGR reach the cells as resolved RGB; the 16
 * ANSI colours keep their palette index. */
Test(screen, sgr_256_and_truecolour)
{
	struct vt_screen *s = screen(20, 2, 0);
	put(s, "\x1b[38;5;196mA\x1b[48;5;21mB\x1b[0;38;2;1;2;3mC\x1b[48;2;250;128;7mD"
	       "\x1b[0;31;42mE\x1b[0;1;3;4;5;7mF\x1b[0mG");
	struct vt_frame f;
	snap(s, &f);
	const struct vt_cell *c = vt_frame_cell(&f, 0, 0);
	cr_expect_eq(c[0].fg_code, VT_COLOR_RGB);
	cr_expect(c[0].fg[0] == 255 && c[0].fg[1] == 0 && c[0].fg[2] == 0,
		  "196 = #ff0000, got %u,%u,%u", c[0].fg[0], c[0].fg[1], c[0].fg[2]);
	cr_expect_eq(c[0].bg_code, VT_COLOR_DEFAULT);
	cr_expect_eq(c[1].bg_code, VT_COLOR_RGB);
	cr_expect(c[1].bg[0] == 0 && c[1].bg[1] == 0 && c[1].bg[2] == 255,
		  "21 = #0000ff, got %u,%u,%u", c[1].bg[0], c[1].bg[1], c[1].bg[2]);
	cr_expect_eq(c[2].fg_code, VT_COLOR_RGB);
	cr_expect(c[2].fg[0] == 1 && c[2].fg[1] == 2 && c[2].fg[2] == 3);
	cr_expect_eq(c[2].bg_code, VT_COLOR_DEFAULT);
	cr_expect_eq(c[3].bg_code, VT_COLOR_RGB);
	cr_expect(c[3].bg[0] == 250 && c[3].bg[1] == 128 && c[3].bg[2] == 7);
	cr_expect_eq(c[4].fg_code, 1);
	cr_expect_eq(c[4].bg_code, 2);
	cr_expect_eq(c[5].attrs, VT_ATTR_BOLD | VT_ATTR_ITALIC | VT_ATTR_UNDERLINE |
					 VT_ATTR_BLINK | VT_ATTR_INVERSE);
	cr_expect_eq(c[6].attrs, 0);
	cr_expect_eq(c[6].fg_code, VT_COLOR_DEFAULT);
	cr_expect_str_eq(row(&f, 0), "ABCDEFG");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* LIMITATION (libtsm 4.0.2): the colon forms of extended colours
 * (CSI 38:2::r:g:b m, CSI 48:5:n m; ITU T.416) are ignored, and so are dim
 * (2), strikethrough (9) and overline (53), which have no attribute bit.
 * tmux applies the colon forms. Only the text is safe. */
Test(screen, libtsm_limitation_colon_sgr_is_ignored)
{
	struct vt_screen *s = screen(20, 2, 0);
	put(s, "\x1b[38:2::10:20:30mA\x1b[48:5:100mB\x1b[2;9;53mC");
	struct vt_frame f;
	snap(s, &f);
	const struct vt_cell *c = vt_frame_cell(&f, 0, 0);
	cr_expect_eq(c[0].fg_code, VT_COLOR_DEFAULT); /* tmux: RGB 10,20,30 */
	cr_expect_eq(c[1].bg_code, VT_COLOR_DEFAULT); /* tmux: colour 100 */
	cr_expect_eq(c[2].attrs, 0);
	cr_expect_str_eq(row(&f, 0), "ABC");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- resize ---- */

/* Rows a shrink pushes off the top leave the view: they become scrolled
 * lines of the next snapshot (vt_screen.h), which is marked RESIZED; lines
 * that really scrolled before the resize come first. */
Test(screen, resize_collects_pushed_rows_and_reports)
{
	struct vt_screen *s = screen(10, 6, 0);
	put(s, "L1\r\nL2\r\nL3\r\nL4\r\nL5\r\nL6");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_eq(f.events & VT_FRAME_RESIZED, 0);
	cr_expect_eq(f.nscrolled, 0);
	vt_frame_free(&f);
	cr_assert_eq(vt_screen_resize(s, 10, 3), 0);
	cr_expect_eq(vt_screen_cols(s), 10);
	cr_expect_eq(vt_screen_rows(s), 3);
	snap(s, &f);
	cr_expect(f.events & VT_FRAME_RESIZED);
	cr_assert_eq(f.nscrolled, 3);
	cr_expect_str_eq(f.scrolled[0], "L1");
	cr_expect_str_eq(f.scrolled[2], "L3");
	cr_expect_eq(vt_screen_history_len(s), 3);
	cr_expect_eq(f.rows, 3);
	cr_expect_str_eq(row(&f, 0), "L4");
	cr_expect_str_eq(row(&f, 2), "L6");
	vt_frame_free(&f);

	put(s, "\r\nL7"); /* L4 scrolls off for real, then L5 is pushed */
	cr_assert_eq(vt_screen_resize(s, 8, 2), 0);
	snap(s, &f);
	cr_expect(f.events & VT_FRAME_RESIZED);
	cr_assert_eq(f.nscrolled, 2);
	cr_expect_str_eq(f.scrolled[0], "L4");
	cr_expect_str_eq(f.scrolled[1], "L5");
	cr_expect_eq(f.cols, 8);
	cr_expect_str_eq(row(&f, 0), "L6");
	cr_expect_str_eq(row(&f, 1), "L7");
	vt_frame_free(&f);

	/* same size: nothing happens */
	cr_assert_eq(vt_screen_resize(s, 8, 2), 0);
	snap(s, &f);
	cr_expect_eq(f.events & VT_FRAME_RESIZED, 0);
	cr_expect_eq(f.nscrolled, 0);
	vt_frame_free(&f);
	cr_expect_neq(vt_screen_resize(s, 0, 5), 0);
	cr_expect_neq(vt_screen_resize(s, 5, 0), 0);
	vt_screen_free(s);
}

/* The alternate screen has no history: a shrink there collects nothing. */
Test(screen, resize_in_alt_screen_collects_nothing)
{
	struct vt_screen *s = screen(10, 6, 0);
	put(s, "\x1b[?1049hA1\r\nA2\r\nA3\r\nA4\r\nA5\r\nA6");
	cr_assert_eq(vt_screen_resize(s, 10, 3), 0);
	struct vt_frame f;
	snap(s, &f);
	cr_expect(f.events & VT_FRAME_RESIZED);
	cr_expect_eq(f.nscrolled, 0);
	cr_expect_eq(vt_screen_history_len(s), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- modes ---- */

Test(screen, modes_are_visible_in_the_frame)
{
	struct vt_screen *s = screen(20, 4, 0);
	put(s, "\x1b[?2004h\x1b[?1000;1006h\x1b[?1h\x1b=\x1b[?1004h\x1b[>3u"
	       "\x1b[?1049h\x1b[?25l");
	struct vt_frame f;
	snap(s, &f);
	uint32_t want = VT_MODE_BRACKETED_PASTE | VT_MODE_MOUSE_NORMAL |
			VT_MODE_MOUSE_SGR | VT_MODE_APP_CURSOR | VT_MODE_APP_KEYPAD |
			VT_MODE_FOCUS | VT_MODE_ALT_SCREEN | VT_MODE_CURSOR_HIDDEN;
	cr_expect_eq(f.modes, want, "modes %#x", f.modes);
	cr_expect_eq(vt_screen_modes(s), want);
	cr_expect_eq(vt_screen_kitty_flags(s), 3);
	cr_expect(f.alt_screen);
	cr_expect_not(f.cursor_visible);
	vt_frame_free(&f);
	put(s, "\x1b[?2026h");
	cr_expect_eq(vt_screen_sync_ends(s), 0);
	put(s, "\x1b[?2026l");
	cr_expect_eq(vt_screen_sync_ends(s), 1);
	put(s, "\x1b" "c"); /* RIS */
	snap(s, &f);
	cr_expect_eq(f.modes, 0);
	cr_expect(f.events & VT_FRAME_RESET);
	cr_expect_not(f.alt_screen);
	cr_expect_eq(vt_screen_kitty_flags(s), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

Test(screen, pending_bytes_count_until_the_snapshot)
{
	struct vt_screen *s = screen(20, 4, 0);
	cr_expect_eq(vt_screen_pending_bytes(s), 0);
	put(s, "hello");
	cr_expect_eq(vt_screen_pending_bytes(s), 5);
	struct vt_frame f;
	snap(s, &f);
	cr_expect_eq(vt_screen_pending_bytes(s), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- libtsm 4.0.2 limitations the screen layer does not fix ----
 * These assert the CURRENT behaviour; tmux's is in the comments. If one of
 * them starts failing, libtsm or our layer changed: update the test and
 * the known_differences in tests/fixtures/tty-extra/index.json. */

/* libtsm 4.0.2 drops combining marks (tsm_screen_write() returns on
 * width-0 code points). The pre-filter composes base + mark where Unicode
 * has a precomposed character: "e\u0301x" reads "\u00e9x". tmux keeps them
 * decomposed ("e\xcc\x81x"), so the text reads the same but the bytes
 * differ. A mark with no precomposed form (U+20DD) is still dropped. */
Test(screen, combining_marks_are_composed_where_unicode_can)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "e\xcc\x81x\r\na\xe2\x83\x9d" "b\r\n"); /* U+0301, U+20DD */
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "\xc3\xa9x");
	cr_expect_str_eq(row(&f, 1), "ab");
	cr_expect_eq(f.cursor_y, 2);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* LIMITATION (libtsm 4.0.2): a wide char printed at the last column is not
 * wrapped: it is stored at the last column (its right half off screen) and
 * the next character starts the next row. tmux (like xterm) wraps the wide
 * char itself: rows "012345678" and "中Z". Our row text is one column wider
 * than the screen. */
Test(screen, libtsm_limitation_wide_char_at_last_column_overflows)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "012345678\xe4\xb8\xadZ");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "012345678\xe4\xb8\xad");
	cr_expect_str_eq(row(&f, 1), "Z");
	const struct vt_cell *c = vt_frame_cell(&f, 9, 0);
	cr_expect_eq(c->ch, 0x4e2d);
	cr_expect_eq(c->width, 2);
	cr_expect_eq(f.row_end[0], 10);
	cr_expect_eq(f.cursor_x, 1);
	cr_expect_eq(f.cursor_y, 1);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* LIMITATION (libtsm 4.0.2, Aetf/libtsm #59): shrinking the height always
 * scrolls the top rows off, even when the rows below the cursor are blank.
 * tmux drops blank rows below the cursor first: 10x6 with "L1".."L3"
 * shrunk to 10x3 still shows L1-L3, the cursor stays on row 2, and they
 * scroll into the history only later. Here the screen is blank with the
 * cursor on row 0; vt_screen at least keeps L1-L3 in the transcript. */
Test(screen, libtsm_limitation_shrink_scrolls_even_with_blank_rows_below)
{
	struct vt_screen *s = screen(10, 6, 0);
	put(s, "L1\r\nL2\r\nL3");
	cr_assert_eq(vt_screen_resize(s, 10, 3), 0);
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "");       /* tmux: "L1" */
	cr_expect_str_eq(row(&f, 2), "");       /* tmux: "L3" */
	cr_expect_eq(f.cursor_y, 0);            /* tmux: 2 */
	cr_assert_eq(f.nscrolled, 3);           /* tmux: none yet */
	cr_expect_str_eq(f.scrolled[0], "L1");
	cr_expect_str_eq(f.scrolled[2], "L3");
	vt_frame_free(&f);
	put(s, "\r\nL4\r\nL5\r\nL6");
	snap(s, &f);
	/* tmux's history gets L1, L2, L3 now; ours gets one blank line */
	cr_assert_eq(f.nscrolled, 1);
	cr_expect_str_eq(f.scrolled[0], "");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* LIMITATION (libtsm 4.0.2): growing the height does not bring lines back
 * from the scrollback (tmux does); the new rows are blank at the bottom. */
Test(screen, libtsm_limitation_grow_adds_blank_rows_at_the_bottom)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "L1\r\nL2\r\nL3\r\nL4\r\nL5");
	cr_assert_eq(vt_screen_resize(s, 10, 5), 0);
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "L3"); /* tmux: L1 */
	cr_expect_str_eq(row(&f, 2), "L5");
	cr_expect_str_eq(row(&f, 4), "");   /* tmux: L5 */
	cr_expect_eq(f.nscrolled, 2);       /* L1, L2 really scrolled */
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* ---- regression tests: vt/ defects these tests found (all fixed) ---- */

/* Regression: DECSTR (CSI ! p) was passed to libtsm, whose soft reset
 * leaves the alternate screen (the same code path as the DECRQM bug);
 * xterm and tmux keep it. frame.modes and frame.alt_screen disagreed. */
Test(screen, decstr_keeps_the_alt_screen)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "main\x1b[?1049hALT\x1b[!pX");
	struct vt_frame f;
	snap(s, &f);
	cr_expect(f.alt_screen, "DECSTR left the alternate screen");
	cr_expect_eq(!!(f.modes & VT_MODE_ALT_SCREEN), f.alt_screen,
		     "frame.modes (%#x) and frame.alt_screen disagree", f.modes);
	cr_expect_str_eq(row(&f, 0), "    ALTX"); /* tmux */
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Regression: libtsm decodes UTF-8 first and treats U+0080-U+009F as C1
 * controls, so "\xc2\x9b" was a CSI the filter never saw: a DECRQM sent
 * that way soft-reset libtsm (alt screen left). Now dropped, as by tmux. */
Test(screen, c1_csi_decrqm_keeps_the_alt_screen)
{
	struct vt_screen *s = screen(10, 3, 0);
	put(s, "\x1b[?1049hALT\xc2\x9b?2026$p");
	struct vt_frame f;
	snap(s, &f);
	cr_expect(f.alt_screen, "C1 DECRQM left the alternate screen");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Lines numbered 0..n-1 must all be in `scrolled`, in order. */
static void expect_numbered(const struct vt_frame *f, size_t n, const char *what)
{
	cr_expect_eq(f->nscrolled, n, "%s: %zu of %zu lines collected", what,
		     f->nscrolled, n);
	for (size_t i = 0; i < f->nscrolled && i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%zu", i);
		if (strcmp(f->scrolled[i], want) != 0) {
			cr_expect_str_eq(f->scrolled[i], want, "%s: line %zu", what, i);
			break;
		}
	}
}

/* Regression: the harvest bound counted only LF, but libtsm also scrolls on
 * VT, FF, IND (ESC D) and NEL (ESC E): one big read of such lines
 * overflowed libtsm's bounded scrollback between two harvests and the
 * oldest lines were lost from the transcript (5000 lines at 80 columns
 * lost lines 0..2928). (C1 NEL, U+0085, is now dropped like every C1.) */
Test(screen, lines_scrolled_by_vt_ff_ind_nel_are_all_collected)
{
	static const char *const seps[] = {"\r\v", "\r\f", "\r\x1b" "D", "\x1b" "E"};
	enum { LINES = 100000 };
	for (size_t k = 0; k < sizeof(seps) / sizeof(seps[0]); k++) {
		struct vt_screen *s = screen(200, 24, LINES);
		struct sbuf in = {0};
		for (int i = 0; i < LINES; i++)
			sb_printf(&in, "%d%s", i, seps[k]);
		vt_screen_feed(s, in.p, in.n);
		struct vt_frame f;
		snap(s, &f);
		char what[32];
		snprintf(what, sizeof(what), "separator #%zu", k);
		expect_numbered(&f, LINES - 23, what);
		vt_frame_free(&f);
		free(in.p);
		vt_screen_free(s);
	}
}

/* Regression: REP was expanded after the harvest bound was checked (which
 * counted input bytes and LFs): 40 "a CSI 65535 b" (440 bytes) fill 32768
 * rows of 80 columns and overflowed libtsm's bounded scrollback. */
Test(screen, rep_expansion_does_not_lose_scrolled_lines)
{
	struct vt_screen *s = screen(80, 24, 40000);
	for (int i = 0; i < 40; i++)
		put(s, "a\x1b[65535b");
	put(s, "\r\n");
	struct vt_frame f;
	snap(s, &f);
	/* 40 * 65536 = 32768 full rows, then the cursor's row; 24 on screen */
	cr_expect_eq(f.nscrolled, 32768 + 1 - 24, "%zu lines collected", f.nscrolled);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Regression: overwriting the left half of a wide char leaves libtsm's
 * width-0 right half behind; vt_frame_row_text skipped it and the row lost
 * a column: "abZcd" where tmux shows "abZ cd". */
Test(screen, overwritten_left_half_of_wide_char_leaves_a_blank)
{
	struct vt_screen *s = screen(10, 2, 0);
	put(s, "ab\xe4\xb8\xad" "cd\x1b[3GZ");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "abZ cd");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* VT BUG (libtsm 4.0.2 heap overflow, reachable through vt_screen): on a
 * 1-column screen, a wide char in insert mode (CSI 4 h) makes
 * tsm_screen_write() memmove (size_x - 2 - x) cells, i.e. ~2^37 bytes:
 * heap-buffer-overflow under ASan, SIGSEGV without. Program output can
 * thus crash the relay whenever a client sizes the screen to 1 column.
 * Found by fuzz/random_streams_on_tiny_screens. vt_screen could refuse
 * (or clamp) widths below 2. */
Test(screen, one_column_screens_are_refused)
{
	/* libtsm 4.0.2 overflows a heap buffer writing a wide char in insert
	 * mode on a 1-column screen, so vt_screen refuses that size. */
	struct vt_screen *s = NULL;
	struct vt_screen_opts o = {.cols = 1, .rows = 2};
	cr_assert_eq(vt_screen_new(&s, &o), -EINVAL);
	s = screen(5, 2, 0);
	cr_assert_eq(vt_screen_resize(s, 1, 2), -EINVAL);
	cr_assert_eq(vt_screen_cols(s), 5);
	put(s, "\x1b[4h\xf0\x9f\x98\x80");
	struct vt_frame f;
	snap(s, &f);
	vt_frame_free(&f);
	cr_assert_eq(vt_screen_resize(s, 2, 2), 0);
	put(s, "\x1b[4h\xe4\xb8\xad");
	snap(s, &f);
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Fixed defect: RIS (ESC c) makes libtsm drop its scrollback, and vt_screen does
 * not harvest it first (it does for CSI 3 J): lines that scrolled off
 * since the last harvest vanish from the transcript, or not, depending on
 * where reads were cut and snapshots taken. Found by
 * fuzz/split_reads_do_not_change_the_screen. */
Test(regression, screen_lines_scrolled_before_ris_are_collected)
{
	struct vt_screen *s = screen(10, 4, 0);
	for (int i = 0; i < 20; i++)
		putf(s, "%d\r\n", i);
	put(s, "\x1b" "cafter");
	struct vt_frame f;
	snap(s, &f);
	expect_numbered(&f, 17, "before RIS");
	cr_expect(f.events & VT_FRAME_RESET);
	cr_expect_str_eq(row(&f, 0), "after");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Fixed defect: overwriting the RIGHT half of a wide char leaves libtsm's
 * width-2 left half in place, so the row text is one column too wide:
 * "ab中Zcd" where tmux shows "ab Zcd". draw_cell could blank a width-2
 * cell whose right neighbour is not a width-0 cell. */
Test(regression, screen_overwritten_right_half_of_wide_char_leaves_a_blank)
{
	struct vt_screen *s = screen(10, 2, 0);
	put(s, "ab\xe4\xb8\xad" "cd\x1b[4GZ");
	struct vt_frame f;
	snap(s, &f);
	cr_expect_str_eq(row(&f, 0), "ab Zcd");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Fixed defect: REP repeats a C1 control the filter dropped from the text, so a
 * C1 CSI reaches libtsm: "\xc2\x9b CSI 1 b ?2026$p" is a DECRQM, libtsm
 * soft-resets and leaves the alternate screen. */
Test(regression, screen_rep_of_a_c1_control_keeps_the_alt_screen)
{
	struct vt_screen *s = screen(20, 2, 0);
	put(s, "main\x1b[?1049hALT\xc2\x9b\x1b[1b?2026$p");
	struct vt_frame f;
	snap(s, &f);
	cr_expect(f.alt_screen, "a repeated C1 CSI left the alternate screen");
	vt_frame_free(&f);
	vt_screen_free(s);
}

/* Fixed defect: libtsm 4.0.2 soft-resets (leaving the alternate screen) on EVERY
 * CSI sequence ending in 'p', whatever its prefix or intermediates; the
 * filter only intercepts DECRQM ($p) and DECSTR (!p). DECSCL
 * (CSI 62;1 " p), xterm's pointer mode (CSI > 1 p) and the rest pass
 * through: the screen leaves the alternate screen (tmux stays), and
 * frame.modes keeps VT_MODE_ALT_SCREEN set. The harvest then skips lines
 * while the filter and libtsm disagree (found by the fuzzer as a libtsm
 * line leak, see screen_free_releases_libtsm_scrollback). */
Test(regression, screen_other_csi_p_sequences_keep_the_alt_screen)
{
	static const char *const seqs[] = {"\x1b[62;1\"p", "\x1b[>1p", "\x1b[=1p",
					   "\x1b[?1p", "\x1b[1;2p", "\x1b[1 p",
					   "\x1b[1'p", "\x1b[1*p"};
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		struct vt_screen *s = screen(20, 2, 0);
		put(s, "main\x1b[?1049hALT");
		put(s, seqs[i]);
		put(s, "X");
		struct vt_frame f;
		snap(s, &f);
		cr_expect(f.alt_screen, "sequence #%zu left the alternate screen", i);
		cr_expect_str_eq(row(&f, 0), "    ALTX", "sequence #%zu", i);
		vt_frame_free(&f);
		vt_screen_free(s);
	}
}

/* VT BUG (leak; only visible under ASan/LSan): libtsm 4.0.2's
 * tsm_screen_unref() frees the screen lines but not the scrollback list,
 * and vt_screen_free() does not empty it first, so every line that
 * scrolled since the last harvest leaks (here the line "1").
 * Fix: tsm_screen_clear_sb() before tsm_screen_unref(). */
Test(regression, screen_free_releases_libtsm_scrollback)
{
	struct vt_screen *s = screen(10, 4, 0);
	put(s, "1\r\n2\r\n3\r\n4\r\n5");
	vt_screen_free(s); /* LeakSanitizer reports the line "1" if this leaks */
}

/* A peek (attach repaint, `smrelay screen`) shows the screen without taking
 * the scrolled lines and events that the pipeline's next frame must get. */
Test(screen, peek_leaves_scrolled_lines_for_the_next_snapshot)
{
	struct vt_screen *s = screen(20, 3, 0);
	put(s, "a\r\nb\r\nc\r\nd\r\ne");
	cr_assert_eq(vt_screen_resize(s, 20, 4), 0);
	struct vt_frame peek;
	cr_assert_eq(vt_screen_peek(s, &peek), 0);
	cr_assert_eq(peek.nscrolled, 0);
	cr_assert_eq(peek.events, 0);
	cr_assert_str_eq(row(&peek, 0), "c");
	vt_frame_free(&peek);
	struct vt_frame f;
	snap(s, &f);
	cr_assert_eq(f.nscrolled, 2, "the snapshot still gets the lines a peek saw scroll");
	cr_assert_str_eq(f.scrolled[0], "a");
	cr_assert_str_eq(f.scrolled[1], "b");
	cr_assert(f.events & VT_FRAME_RESIZED);
	vt_frame_free(&f);
	vt_screen_free(s);
}
