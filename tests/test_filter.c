/* test_filter.c — unit tests of the vt_filter byte pre-filter that sits in
 * front of libtsm 4.0.2 (see vt/vt_filter.h and terminal-anchors.md 1.5).
 *
 * Every expectation is checked on what the filter hands to its three
 * callbacks (`out` for the emulator, `reply` for the program, `event`) and
 * on the modes it tracks. Every input is also fed byte by byte and in two
 * pieces at every split point: PTY reads cut sequences anywhere, so the
 * result must not depend on where the cuts fall.
 *
 * The `regression` suite holds defects of vt/ these tests found, now fixed. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_filter.h"

/* ---- capturing the callbacks ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		cr_assert_not_null(p);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

struct cap {
	struct buf out, reply;
	int ev[64];
	size_t nev;
	size_t out_calls;
};

static void cap_out(void *data, const char *b, size_t n)
{
	struct cap *c = data;
	cr_assert_gt(n, 0, "out() called with an empty buffer");
	buf_add(&c->out, b, n);
	c->out_calls++;
}

static void cap_reply(void *data, const char *b, size_t n)
{
	struct cap *c = data;
	buf_add(&c->reply, b, n);
}

static void cap_event(void *data, enum vt_filter_event ev)
{
	struct cap *c = data;
	cr_assert_lt(c->nev, 64);
	c->ev[c->nev++] = (int)ev;
}

static const struct vt_filter_ops cap_ops = {
	.out = cap_out,
	.reply = cap_reply,
	.event = cap_event,
};

/* A filter plus everything it produced. */
struct run {
	struct vt_filter f;
	struct cap c;
};

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	vt_filter_init(&r->f, &cap_ops, &r->c);
}

static void run_free(struct run *r)
{
	free(r->c.out.p);
	free(r->c.reply.p);
	memset(&r->c, 0, sizeof(r->c));
}

static void feed(struct run *r, const char *s, size_t n)
{
	vt_filter_feed(&r->f, s, n);
}

static void feeds(struct run *r, const char *s)
{
	feed(r, s, strlen(s));
}

static const char *out_of(const struct run *r)
{
	return r->c.out.p ? r->c.out.p : "";
}

static const char *reply_of(const struct run *r)
{
	return r->c.reply.p ? r->c.reply.p : "";
}

/* Printable form of bytes for failure messages (static buffer). */
static const char *vis(const char *s, size_t n)
{
	static char b[8][2048];
	static int k;
	char *o = b[k++ & 7];
	size_t j = 0;
	for (size_t i = 0; i < n && j + 8 < sizeof(b[0]); i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0x1b)
			j += (size_t)snprintf(o + j, 8, "\\e");
		else if (ch < 0x20 || ch >= 0x7f)
			j += (size_t)snprintf(o + j, 8, "\\x%02x", ch);
		else
			o[j++] = (char)ch;
	}
	o[j] = '\0';
	return o;
}

static bool same_result(const struct run *a, const struct run *b)
{
	return a->c.out.n == b->c.out.n &&
	       (a->c.out.n == 0 || memcmp(a->c.out.p, b->c.out.p, a->c.out.n) == 0) &&
	       a->c.reply.n == b->c.reply.n &&
	       (a->c.reply.n == 0 ||
		memcmp(a->c.reply.p, b->c.reply.p, a->c.reply.n) == 0) &&
	       a->c.nev == b->c.nev &&
	       memcmp(a->c.ev, b->c.ev, a->c.nev * sizeof(a->c.ev[0])) == 0 &&
	       a->f.modes == b->f.modes &&
	       vt_filter_kitty_flags(&a->f) == vt_filter_kitty_flags(&b->f) &&
	       a->f.kitty_depth == b->f.kitty_depth &&
	       a->f.modify_other_keys == b->f.modify_other_keys &&
	       a->f.newlines == b->f.newlines;
}

static void expect_same(const struct run *whole, const struct run *cut,
			const char *in, size_t len, const char *how)
{
	cr_expect(same_result(whole, cut),
		  "input \"%s\" fed %s differs from feeding it whole:\n"
		  "  out   \"%s\" vs \"%s\"\n  reply \"%s\" vs \"%s\"\n"
		  "  events %zu vs %zu, modes %#x vs %#x, newlines %llu vs %llu",
		  vis(in, len), how, vis(cut->c.out.p ? cut->c.out.p : "", cut->c.out.n),
		  vis(out_of(whole), whole->c.out.n),
		  vis(reply_of(cut), cut->c.reply.n), vis(reply_of(whole), whole->c.reply.n),
		  cut->c.nev, whole->c.nev, cut->f.modes, whole->f.modes,
		  (unsigned long long)cut->f.newlines,
		  (unsigned long long)whole->f.newlines);
}

/* Feeds `in` whole, byte by byte, and in two pieces at every split point;
 * all must give the same out / reply / events / tracked state. */
static void check_splits_n(const char *in, size_t len)
{
	struct run whole, cut;
	run_init(&whole);
	feed(&whole, in, len);

	run_init(&cut);
	for (size_t i = 0; i < len; i++)
		feed(&cut, in + i, 1);
	expect_same(&whole, &cut, in, len, "byte by byte");
	run_free(&cut);

	for (size_t k = 1; k < len; k++) {
		char how[64];
		snprintf(how, sizeof(how), "split at %zu", k);
		run_init(&cut);
		feed(&cut, in, k);
		feed(&cut, in + k, len - k);
		expect_same(&whole, &cut, in, len, how);
		run_free(&cut);
	}
	run_free(&whole);
}

static void check_splits(const char *in)
{
	check_splits_n(in, strlen(in));
}

/* Feeds `in` whole into a fresh filter (and checks split invariance). */
static void run_str(struct run *r, const char *in)
{
	run_init(r);
	feeds(r, in);
	check_splits(in);
}

#define expect_bytes(got, want)                                                  \
	cr_expect_str_eq((got), (want), "got \"%s\", want \"%s\"",              \
			 vis((got), strlen(got)), vis((want), strlen(want)))

/* ---- DECRQM: swallowed (libtsm 4.0.2 soft-resets on it) and answered ---- */

Test(filter, decrqm_sync_is_swallowed_and_answered_reset)
{
	struct run r;
	run_str(&r, "\x1b[?2026$p");
	expect_bytes(out_of(&r), "");
	expect_bytes(reply_of(&r), "\x1b[?2026;2$y");
	cr_expect_eq(r.c.nev, 0);
	run_free(&r);
}

Test(filter, decrqm_sync_after_set_answers_set)
{
	struct run r;
	run_str(&r, "\x1b[?2026h\x1b[?2026$p");
	expect_bytes(out_of(&r), "\x1b[?2026h");
	expect_bytes(reply_of(&r), "\x1b[?2026;1$y");
	run_free(&r);
}

Test(filter, decrqm_unknown_private_mode_answers_not_recognised)
{
	struct run r;
	run_str(&r, "\x1b[?9999$p\x1b[?12345$p");
	expect_bytes(out_of(&r), "");
	expect_bytes(reply_of(&r), "\x1b[?9999;0$y\x1b[?12345;0$y");
	run_free(&r);
}

/* ANSI (non-private) DECRQM must be answered too, or the program waits. */
Test(filter, decrqm_ansi_mode_is_swallowed_and_answered)
{
	struct run r;
	run_str(&r, "\x1b[4$p");
	expect_bytes(out_of(&r), "");
	const char *rep = reply_of(&r);
	cr_expect(strncmp(rep, "\x1b[4;", 4) == 0 && strlen(rep) == 7 &&
			  strchr("012", rep[4]) && strcmp(rep + 5, "$y") == 0,
		  "reply \"%s\"", vis(rep, strlen(rep)));
	run_free(&r);
}

/* DECRQM reports the state of every mode the filter tracks. */
Test(filter, decrqm_follows_each_tracked_mode)
{
	static const int modes[] = {1, 9, 1000, 1002, 1003, 1004, 1005, 1006,
				    1015, 1016, 1049, 2004, 2026, 2031};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char in[128], want[128];
		snprintf(in, sizeof(in),
			 "\x1b[?%d$p\x1b[?%dh\x1b[?%d$p\x1b[?%dl\x1b[?%d$p",
			 modes[i], modes[i], modes[i], modes[i], modes[i]);
		snprintf(want, sizeof(want), "\x1b[?%d;2$y\x1b[?%d;1$y\x1b[?%d;2$y",
			 modes[i], modes[i], modes[i]);
		struct run r;
		run_str(&r, in);
		cr_expect_str_eq(reply_of(&r), want, "mode %d: reply \"%s\"", modes[i],
				 vis(reply_of(&r), r.c.reply.n));
		run_free(&r);
	}
	/* ?5 (reverse video) and ?6 (origin) are reset by default; ?7
	 * (autowrap) and ?25 (cursor visible) are set */
	for (int m = 5; m <= 6; m++) {
		char in[64], want[64];
		snprintf(in, sizeof(in), "\x1b[?%d$p\x1b[?%dh\x1b[?%d$p", m, m, m);
		snprintf(want, sizeof(want), "\x1b[?%d;2$y\x1b[?%d;1$y", m, m);
		struct run r5;
		run_str(&r5, in);
		cr_expect_str_eq(reply_of(&r5), want);
		run_free(&r5);
	}
	/* ?25 (cursor visible) is set by default */
	struct run r;
	run_str(&r, "\x1b[?25$p\x1b[?25l\x1b[?25$p\x1b[?25h\x1b[?25$p");
	expect_bytes(reply_of(&r), "\x1b[?25;1$y\x1b[?25;2$y\x1b[?25;1$y");
	run_free(&r);
}

/* ---- SCOSC / SCORC and the CSI ... u family ---- */

/* libtsm 4.0.2 ignores CSI s / CSI u; DECSC / DECRC do the same job. */
Test(filter, csi_s_and_csi_u_become_decsc_decrc)
{
	struct run r;
	run_str(&r, "ab\x1b[scd\x1b[uX");
	expect_bytes(out_of(&r), "ab\x1b" "7cd\x1b" "8X");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
}

/* Kitty keyboard sequences end in 'u' too but must never restore the
 * cursor, nor reach libtsm; the query gets no answer (not implemented). */
Test(filter, kitty_keyboard_sequences_are_swallowed)
{
	struct run r;
	run_str(&r, "A\x1b[?uB\x1b[>1uC\x1b[<uD\x1b[=1;1uE");
	expect_bytes(out_of(&r), "ABCDE");
	expect_bytes(reply_of(&r), "");
	cr_expect_eq(r.c.nev, 0);
	run_free(&r);
}

Test(filter, kitty_flags_follow_push_pop_and_set)
{
	struct run r;
	run_init(&r);
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 0);
	feeds(&r, "\x1b[>1u");
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 1);
	feeds(&r, "\x1b[>5u");
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 5);
	feeds(&r, "\x1b[<u"); /* pop one */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 1);
	feeds(&r, "\x1b[=3;1u"); /* set (replace) */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 3);
	feeds(&r, "\x1b[=4;2u"); /* or */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 7);
	feeds(&r, "\x1b[=1;3u"); /* and-not */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 6);
	feeds(&r, "\x1b[=9u"); /* mode defaults to replace */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 9);
	feeds(&r, "\x1b[>2u\x1b[>3u\x1b[<2u"); /* pop two */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 9);
	feeds(&r, "\x1b[<10u"); /* popping more than pushed empties the stack */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 0);
	cr_expect_eq(r.f.kitty_depth, 0);
	feeds(&r, "\x1b[<u"); /* pop on an empty stack is harmless */
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 0);
	feeds(&r, "\x1b[?u");
	expect_bytes(out_of(&r), "");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
	check_splits("\x1b[>1u\x1b[>5u\x1b[<u\x1b[=3;1u\x1b[=4;2u\x1b[=1;3u\x1b[<10u");
}

/* A program pushing without popping must not overflow the stack. */
Test(filter, kitty_stack_is_bounded)
{
	struct run r;
	run_init(&r);
	for (int i = 1; i <= 3 * VT_FILTER_KITTY_DEPTH; i++) {
		char s[32];
		snprintf(s, sizeof(s), "\x1b[>%du", i);
		feeds(&r, s);
		cr_assert_leq(r.f.kitty_depth, VT_FILTER_KITTY_DEPTH);
		cr_expect_eq(vt_filter_kitty_flags(&r.f), (unsigned)i);
	}
	feeds(&r, "\x1b[<u");
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 3 * VT_FILTER_KITTY_DEPTH - 1);
	run_free(&r);
}

/* ---- modifyOtherKeys and XTVERSION ---- */

/* libtsm ignores the '>' and would apply "4;2" as SGR (underline + dim). */
Test(filter, modify_other_keys_is_swallowed_and_tracked)
{
	struct run r;
	run_str(&r, "x\x1b[>4;2my");
	expect_bytes(out_of(&r), "xy");
	expect_bytes(reply_of(&r), "");
	cr_expect_eq(r.f.modify_other_keys, 2);
	feeds(&r, "\x1b[>4;1m");
	cr_expect_eq(r.f.modify_other_keys, 1);
	feeds(&r, "\x1b[>4m");
	cr_expect_eq(r.f.modify_other_keys, 0);
	feeds(&r, "\x1b[>4;2m\x1b[>m"); /* CSI > m resets */
	cr_expect_eq(r.f.modify_other_keys, 0);
	feeds(&r, "\x1b[>1;1m"); /* another resource: swallowed, no change */
	cr_expect_eq(r.f.modify_other_keys, 0);
	expect_bytes(out_of(&r), "xy");
	run_free(&r);
}

/* We do not implement XTVERSION and must not claim to. */
Test(filter, xtversion_is_swallowed_without_reply)
{
	struct run r;
	run_str(&r, "a\x1b[>0qb\x1b[>qc");
	expect_bytes(out_of(&r), "abc");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
}

/* ---- erase display ---- */

Test(filter, erase_scrollback_passes_through_and_reports)
{
	struct run r;
	run_str(&r, "a\x1b[3Jb");
	expect_bytes(out_of(&r), "a\x1b[3Jb");
	cr_assert_eq(r.c.nev, 1);
	cr_expect_eq(r.c.ev[0], VT_FILTER_CLEAR_SCROLLBACK);
	run_free(&r);
}

Test(filter, erase_screen_passes_through_and_reports)
{
	struct run r;
	run_str(&r, "a\x1b[2Jb");
	expect_bytes(out_of(&r), "a\x1b[2Jb");
	cr_assert_eq(r.c.nev, 1);
	cr_expect_eq(r.c.ev[0], VT_FILTER_CLEAR_SCREEN);
	run_free(&r);
}

/* Partial erases and the selective (DECSED) form report nothing. */
Test(filter, partial_erase_reports_nothing)
{
	struct run r;
	run_str(&r, "\x1b[J\x1b[0J\x1b[1J\x1b[?2J\x1b[2K");
	expect_bytes(out_of(&r), "\x1b[J\x1b[0J\x1b[1J\x1b[?2J\x1b[2K");
	cr_expect_eq(r.c.nev, 0);
	run_free(&r);
}

/* ---- REP (CSI Ps b), which libtsm 4.0.2 ignores ---- */

Test(filter, rep_repeats_the_last_ascii_char)
{
	struct run r;
	run_str(&r, "a\x1b[3b");
	expect_bytes(out_of(&r), "aaaa");
	run_free(&r);
	run_str(&r, "xy\x1b[b\x1b[0bz"); /* default and 0 both mean 1 */
	expect_bytes(out_of(&r), "xyyyz");
	run_free(&r);
}

/* Fed in one read; the same cut between reads is
 * filter/rep_after_utf8_char_cut_between_reads. */
Test(filter, rep_repeats_the_whole_utf8_char)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{"\xc3\xa9\x1b[2b", "\xc3\xa9\xc3\xa9\xc3\xa9"},      /* é, 2 bytes */
		{"\xe4\xb8\xad\x1b[1b", "\xe4\xb8\xad\xe4\xb8\xad"},  /* 中, 3 bytes */
		{"\xf0\x9f\x98\x80\x1b[2b",                        /* U+1F600 */
		 "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"},
		{"\xe2\x94\x80\x1b[3b",                             /* ─ (ncurses) */
		 "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct run r;
		run_init(&r);
		feeds(&r, t[i].in);
		expect_bytes(out_of(&r), t[i].want);
		run_free(&r);
		/* cuts that do not fall inside the character are harmless */
		size_t clen = strcspn(t[i].in, "\x1b");
		for (size_t k = clen; k < strlen(t[i].in); k++) {
			run_init(&r);
			feed(&r, t[i].in, k);
			feeds(&r, t[i].in + k);
			expect_bytes(out_of(&r), t[i].want);
			run_free(&r);
		}
	}
}

Test(filter, rep_without_a_previous_char_does_nothing)
{
	struct run r;
	run_str(&r, "\x1b[5b");
	expect_bytes(out_of(&r), "");
	run_free(&r);
}

/* A hostile count is bounded (a screen is never 65536 columns wide). */
Test(filter, rep_count_is_bounded)
{
	struct run r;
	run_init(&r);
	feeds(&r, "z\x1b[999999999b");
	cr_expect_leq(r.c.out.n, 65536 + 1);
	cr_expect_geq(r.c.out.n, 2);
	run_free(&r);
}

/* ---- DECSET / DECRST tracking ---- */

Test(filter, private_modes_are_tracked)
{
	static const struct {
		int mode;
		uint32_t bit;
	} t[] = {
		{1, VT_MODE_APP_CURSOR},
		{1000, VT_MODE_MOUSE_NORMAL},
		{1002, VT_MODE_MOUSE_BUTTON},
		{1003, VT_MODE_MOUSE_ANY},
		{1004, VT_MODE_FOCUS},
		{1006, VT_MODE_MOUSE_SGR},
		{1016, VT_MODE_MOUSE_SGR_PIXELS},
		{2004, VT_MODE_BRACKETED_PASTE},
		{2026, VT_MODE_SYNC},
		{2031, VT_MODE_THEME_REPORTS},
		{1049, VT_MODE_ALT_SCREEN},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char set[32], reset[32];
		snprintf(set, sizeof(set), "\x1b[?%dh", t[i].mode);
		snprintf(reset, sizeof(reset), "\x1b[?%dl", t[i].mode);
		struct run r;
		run_str(&r, set);
		/* libtsm must still see DECSET (it handles ?1, ?1049 itself) */
		expect_bytes(out_of(&r), set);
		cr_expect_eq(r.f.modes, t[i].bit, "?%d h: modes %#x", t[i].mode,
			     r.f.modes);
		feeds(&r, reset);
		cr_expect_eq(r.f.modes, 0, "?%d l: modes %#x", t[i].mode, r.f.modes);
		run_free(&r);
	}
}

/* ?25 is stored inverted: the flag means "hidden". */
Test(filter, cursor_visibility_is_tracked)
{
	struct run r;
	run_str(&r, "\x1b[?25l");
	cr_expect_eq(r.f.modes, VT_MODE_CURSOR_HIDDEN);
	feeds(&r, "\x1b[?25h");
	cr_expect_eq(r.f.modes, 0);
	expect_bytes(out_of(&r), "\x1b[?25l\x1b[?25h");
	run_free(&r);
}

Test(filter, keypad_modes_are_tracked)
{
	struct run r;
	run_str(&r, "\x1b=");
	cr_expect_eq(r.f.modes, VT_MODE_APP_KEYPAD);
	expect_bytes(out_of(&r), "\x1b=");
	feeds(&r, "\x1b>");
	cr_expect_eq(r.f.modes, 0);
	run_free(&r);
	check_splits("\x1b=x\x1b>y");
}

Test(filter, sync_output_reports_begin_and_end_once)
{
	struct run r;
	run_str(&r, "\x1b[?2026h\x1b[?2026hA\x1b[?2026l\x1b[?2026l");
	expect_bytes(out_of(&r), "\x1b[?2026h\x1b[?2026hA\x1b[?2026l\x1b[?2026l");
	cr_assert_eq(r.c.nev, 2);
	cr_expect_eq(r.c.ev[0], VT_FILTER_SYNC_BEGIN);
	cr_expect_eq(r.c.ev[1], VT_FILTER_SYNC_END);
	cr_expect_eq(r.f.modes, 0);
	run_free(&r);
}

Test(filter, multi_parameter_decset_sets_every_mode)
{
	struct run r;
	run_str(&r, "\x1b[?1000;1006h");
	cr_expect_eq(r.f.modes, VT_MODE_MOUSE_NORMAL | VT_MODE_MOUSE_SGR);
	feeds(&r, "\x1b[?1002;2026;2004;9999h");
	cr_expect_eq(r.f.modes, VT_MODE_MOUSE_NORMAL | VT_MODE_MOUSE_SGR |
					VT_MODE_MOUSE_BUTTON | VT_MODE_SYNC |
					VT_MODE_BRACKETED_PASTE);
	cr_expect_eq(r.c.nev, 1);
	feeds(&r, "\x1b[?1000;1006;2026l");
	cr_expect_eq(r.f.modes, VT_MODE_MOUSE_BUTTON | VT_MODE_BRACKETED_PASTE);
	cr_expect_eq(r.c.nev, 2);
	run_free(&r);
	check_splits("\x1b[?1002;2026;2004;9999h\x1b[?1000;1006;2026l");
}

/* ANSI SM (no '?') must not touch the private modes. */
Test(filter, ansi_set_mode_is_not_a_private_mode)
{
	struct run r;
	run_str(&r, "\x1b[2004h\x1b[4h");
	cr_expect_eq(r.f.modes, VT_MODE_INSERT); /* IRM only: 2004 is private */
	expect_bytes(out_of(&r), "\x1b[2004h\x1b[4h");
	run_free(&r);
}

Test(filter, ris_resets_modes_and_reports)
{
	struct run r;
	run_str(&r, "\x1b[?2004;1004;1000;1006;1h\x1b=\x1b[>1u\x1b[>4;2m\x1b" "c");
	cr_expect_eq(r.f.modes, 0);
	cr_expect_eq(vt_filter_kitty_flags(&r.f), 0);
	cr_expect_eq(r.f.modify_other_keys, 0);
	cr_assert_eq(r.c.nev, 1);
	cr_expect_eq(r.c.ev[0], VT_FILTER_RESET);
	/* libtsm resets its own screen on RIS */
	expect_bytes(out_of(&r), "\x1b[?2004;1004;1000;1006;1h\x1b=\x1b" "c");
	run_free(&r);
}

/* ---- strings, aborts, long sequences ---- */

Test(filter, osc_terminated_by_bel_passes_intact)
{
	struct run r;
	run_str(&r, "a\x1b]0;title [1m;\x07z");
	expect_bytes(out_of(&r), "a\x1b]0;title [1m;\x07z");
	run_free(&r);
	run_str(&r, "\x1b]8;;http://example.com/?q=1\x07link\x1b]8;;\x07");
	expect_bytes(out_of(&r), "\x1b]8;;http://example.com/?q=1\x07link\x1b]8;;\x07");
	run_free(&r);
}

Test(filter, osc_terminated_by_st_passes_intact)
{
	struct run r;
	run_str(&r, "\x1b]2;t\xc3\xa9tle\x1b\\x\x1bP+q544e\x1b\\y");
	expect_bytes(out_of(&r), "\x1b]2;t\xc3\xa9tle\x1b\\x\x1bP+q544e\x1b\\y");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
}

/* Sequence-looking bytes inside an OSC are payload, not sequences. */
Test(filter, osc_payload_is_not_interpreted)
{
	struct run r;
	run_str(&r, "\x1b]0;[?2026$p [3J [s\x07");
	expect_bytes(out_of(&r), "\x1b]0;[?2026$p [3J [s\x07");
	expect_bytes(reply_of(&r), "");
	cr_expect_eq(r.c.nev, 0);
	run_free(&r);
}

/* An OSC cut short by a new ESC sequence is terminated for the emulator
 * and the new sequence is processed normally. */
Test(filter, osc_cut_by_a_new_sequence)
{
	struct run r;
	run_str(&r, "\x1b]0;abc\x1b[?2026$pX");
	expect_bytes(out_of(&r), "\x1b]0;abc\x1b\\X");
	expect_bytes(reply_of(&r), "\x1b[?2026;2$y");
	run_free(&r);
}

Test(filter, can_and_sub_abort_a_csi)
{
	struct run r;
	run_str(&r, "a\x1b[?2026\x18$pb\x1b[3\x1a" "Jc");
	/* the aborted sequences vanish; what follows is plain text */
	expect_bytes(out_of(&r), "a$pbJc");
	expect_bytes(reply_of(&r), "");
	cr_expect_eq(r.c.nev, 0);
	run_free(&r);
	run_str(&r, "a\x1b\x18" "b"); /* right after ESC */
	expect_bytes(out_of(&r), "ab");
	run_free(&r);
}

/* A CSI longer than the filter's buffer cannot be one it rewrites: it is
 * handed over byte for byte, and the filter is back in step afterwards. */
Test(filter, overlong_csi_passes_through_intact)
{
	char in[256];
	size_t n = 0;
	in[n++] = 0x1b;
	in[n++] = '[';
	while (n < 197)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "1;");
	in[n++] = '3';
	in[n++] = 'm';
	size_t csi_len = n;
	cr_assert_gt(csi_len, VT_FILTER_SEQ_MAX);
	memcpy(in + n, "A\x1b[?2026$p", 10);
	n += 10;
	in[n] = '\0';

	struct run r;
	run_init(&r);
	feed(&r, in, n);
	cr_assert_eq(r.c.out.n, csi_len + 1);
	cr_expect(memcmp(r.c.out.p, in, csi_len) == 0);
	cr_expect_eq(r.c.out.p[csi_len], 'A');
	expect_bytes(reply_of(&r), "\x1b[?2026;2$y");
	run_free(&r);
	check_splits_n(in, n);
}

Test(filter, newlines_are_counted)
{
	struct run r;
	run_str(&r, "a\nb\r\n\n\x1b]0;x\ny\x07\x1b[2J");
	/* the LF inside the OSC payload is not a line feed */
	cr_expect_eq(r.f.newlines, 3);
	run_free(&r);
}

/* Other escapes (charsets, DECSC, IND...) pass through whole. */
Test(filter, other_escape_sequences_pass_through)
{
	struct run r;
	run_str(&r, "\x1b(0q\x1b(B\x1b" "7\x1b" "8\x1b" "D\x1b#8\x1b[1;31m\x1b[?1049h");
	expect_bytes(out_of(&r),
		     "\x1b(0q\x1b(B\x1b" "7\x1b" "8\x1b" "D\x1b#8\x1b[1;31m\x1b[?1049h");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
}

/* A mixed stream, like the start of a Claude Code session, at every cut. */
Test(filter, mixed_stream_is_split_invariant)
{
	check_splits("\x1b[?2026$p\x1b[>0q\x1b[?u\x1b[c\x1b]11;?\x07\x1b[?1049h"
		     "\x1b[?2004h\x1b[?1004h\x1b[>1u\x1b[>4;2m\x1b[?2026h\x1b[H"
		     "\x1b[2J\xe2\x94\x80-\x1b[5b\r\n\x1b[s\xe4\xb8\xad\x1b[u\x1b[3J"
		     "\x1b]0;t\x1b\\\x1b[?2026l\x1b[<u\x1b[?1049l\x1b" "c");
}

/* ---- regressions: vt/ defects found by these tests, since fixed ---- */

/* Regression: REP after a multi-byte character fed in two reads repeated
 * only the continuation byte(s) (note_last_char() looked at the current
 * read only). PTY reads cut UTF-8 characters all the time. */
Test(filter, rep_after_utf8_char_cut_between_reads)
{
	struct run r;
	run_init(&r);
	feeds(&r, "\xc3");
	feeds(&r, "\xa9\x1b[2b");
	expect_bytes(out_of(&r), "\xc3\xa9\xc3\xa9\xc3\xa9");
	run_free(&r);
}

/* Regression: an ESC inside an overlong CSI (ST_CSI_SKIP) did not start a
 * new sequence: the skip ran to the next byte in 0x40-0x7e, the '[' of the
 * next CSI, and the rest of it reached libtsm unfiltered. Here that is a
 * DECRQM, which makes libtsm 4.0.2 soft-reset (leaving the alternate
 * screen), unanswered. */
Test(filter, esc_inside_overlong_csi_starts_a_new_sequence)
{
	char in[256];
	size_t n = 0;
	in[n++] = 0x1b;
	in[n++] = '[';
	while (n < 150)
		in[n++] = '1';
	memcpy(in + n, "\x1b[?2026$p", 9);
	n += 9;
	struct run r;
	run_init(&r);
	feed(&r, in, n);
	expect_bytes(reply_of(&r), "\x1b[?2026;2$y");
	cr_expect_null(strstr(out_of(&r), "$p"),
		       "DECRQM reached the emulator: \"%s\"",
		       vis(out_of(&r), r.c.out.n));
	run_free(&r);
}

/* Regression: an ESC after an ESC intermediate (ESC ( ESC ...) was emitted
 * as the final byte of the first sequence and the filter returned to
 * ground, so the next sequence reached libtsm unfiltered (a DECRQM here). */
Test(filter, esc_after_esc_intermediate_starts_a_new_sequence)
{
	struct run r;
	run_init(&r);
	feeds(&r, "\x1b(\x1b[?2026$p");
	expect_bytes(reply_of(&r), "\x1b[?2026;2$y");
	cr_expect_null(strstr(out_of(&r), "$p"), "DECRQM reached the emulator: \"%s\"",
		       vis(out_of(&r), r.c.out.n));
	run_free(&r);
}

/* Regression: DECRQM ?7 (autowrap) always answered "set", even after ?7l,
 * and ?6 (origin) always "reset". */
Test(filter, decrqm_reports_autowrap_and_origin_state)
{
	struct run r;
	run_init(&r);
	feeds(&r, "\x1b[?7l\x1b[?6h\x1b[?7$p\x1b[?6$p");
	expect_bytes(reply_of(&r), "\x1b[?7;2$y\x1b[?6;1$y");
	run_free(&r);
}

/* libtsm decodes UTF-8 first and obeys U+0080-U+009F as C1 controls, behind
 * the filter's back ("\xc2\x9b" is a CSI); the filter drops them, as tmux
 * does, also when a read ends between the two bytes. U+00A0 and up pass. */
Test(filter, c1_controls_sent_as_utf8_are_dropped)
{
	struct run r;
	run_str(&r, "a\xc2\x85" "b\xc2\x9b?2026$pc\xc2\xa0\xc3\xa9\xc2\x90" "d");
	expect_bytes(out_of(&r), "ab?2026$pc\xc2\xa0\xc3\xa9" "d");
	expect_bytes(reply_of(&r), "");
	run_free(&r);
	/* a lone 0xC2 that turns out to start an ordinary character */
	run_str(&r, "x\xc2\xa9\xc2\x1b[1my");
	expect_bytes(out_of(&r), "x\xc2\xa9\xc2\x1b[1my");
	run_free(&r);
}

/* ---- regression tests: vt/ defects these tests found (all fixed) ---- */

/* Fixed defect: C1 controls are dropped from the text, but REP still repeats one
 * (note_last_char() takes "\xc2\x9b" for a printable character), so the
 * C1 CSI reaches libtsm after all: "\xc2\x9b CSI 1 b ?2026$p" is a DECRQM
 * behind the filter's back (libtsm soft-resets and leaves the alternate
 * screen: regression/screen_rep_of_a_c1_control_keeps_the_alt_screen). */
Test(regression, filter_rep_never_repeats_a_c1_control)
{
	struct run r;
	run_init(&r);
	feeds(&r, "\xc2\x9b\x1b[1b?2026$p");
	cr_expect_null(strstr(out_of(&r), "\xc2\x9b"), "out \"%s\"",
		       vis(out_of(&r), r.c.out.n));
	run_free(&r);
	run_init(&r);
	feeds(&r, "a\xc2");
	feeds(&r, "\x85\x1b[3b");
	cr_expect_null(strstr(out_of(&r), "\xc2\x85"), "out \"%s\"",
		       vis(out_of(&r), r.c.out.n));
	run_free(&r);
}

/* Fixed defect: REP after stray UTF-8 continuation bytes depends on where the
 * reads were cut: "P \x96\xaf\xab\x80 CSI b" fed whole repeats the four
 * stray bytes, fed as "P" + the rest it repeats "P" (note_last_char()
 * appends continuation bytes to the previous read's character only when
 * they fit). Found by fuzz/split_reads_do_not_change_the_screen. */
Test(regression, filter_rep_after_stray_continuation_bytes)
{
	check_splits_n("P\x96\xaf\xab\x80\x1b[b", 9);
}

/* Every read ends somewhere: the filter must never look at the byte after
 * it (it scans ahead for UTF-8 characters, C1 controls and combining
 * marks). Each read here is an exact-size heap copy, so ASan/UBSan builds
 * catch an over-read; e.g. a composable mark ending a read ("a\xcc\x88")
 * was read past in the composition loop while that was being written. */
Test(filter, reads_never_touch_the_byte_after_the_buffer)
{
	static const char *const tails[] = {
		"a\xcc\x88", "e\xcc\x81\xcc\x81", "\xcc", "\xcd", "\xc2", "\xc2\x9b",
		"\xe4\xb8", "\xe4\xb8\xad", "\xf0\x9f\x98", "\x1b", "\x1b[", "\x1b[?2026$",
		"\x1b]0;t", "\x1b]0;t\x1b", "x\x1b[3", "\x1bP", "a\x1b[2b", "\x1b(", "\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		size_t n = strlen(tails[i]);
		struct run r;
		run_init(&r);
		for (size_t cut = 1; cut <= n; cut++) {
			char *copy = malloc(cut);
			cr_assert_not_null(copy);
			memcpy(copy, tails[i], cut);
			feed(&r, copy, cut);
			free(copy);
		}
		run_free(&r);
	}
}
