/* test_fuzz.c — robustness of vt_screen_feed against hostile or broken
 * program output: a deterministic (seeded xorshift) stream of random bytes
 * and grammar-built escape-sequence fragments (CSI with random parameters,
 * intermediates and finals, OSC/DCS with random terminators, valid, invalid
 * and overlong UTF-8, wide chars, C0/C1 controls), fed in random splits,
 * with random resizes and snapshots. Meant to run under ASan/UBSan
 * (-DSMRELAY_SANITIZE=ON); every snapshot checks the frame's invariants.
 * tests/fuzz/fuzz_vt_feed.c is the libFuzzer version of the same harness. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8_valid.h"
#include "vt_screen.h"

/* The narrowest screen: vt_screen refuses 1 column, where libtsm 4.0.2
 * overflows its heap (screen/one_column_screens_are_refused). */
#define FUZZ_MIN_COLS 2

/* ---- deterministic randomness ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t x = r->s; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static unsigned below(struct rng *r, unsigned n)
{
	return n ? (unsigned)((rnd(r) >> 32) % n) : 0;
}

static bool chance(struct rng *r, unsigned percent)
{
	return below(r, 100) < percent;
}

/* ---- building the input ---- */


struct out {
	char *p;
	size_t n, cap;
};

static void add(struct out *o, const void *b, size_t n)
{
	if (o->n + n > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 1 << 16;
		while (cap < o->n + n)
			cap *= 2;
		char *p = realloc(o->p, cap);
		cr_assert_not_null(p);
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->n, b, n);
	o->n += n;
}

static void adds(struct out *o, const char *s)
{
	add(o, s, strlen(s));
}

static void addc(struct out *o, unsigned c)
{
	char ch = (char)c;
	add(o, &ch, 1);
}

/* A number as a CSI parameter: mostly small, sometimes huge. */
static void add_param(struct rng *r, struct out *o)
{
	static const long interesting[] = {
		0, 1, 2, 3, 4, 5, 6, 7, 9, 25, 47, 1000, 1002, 1003, 1004,
		1005, 1006, 1015, 1016, 1047, 1048, 1049, 2004, 2026, 2031,
		255, 256, 65535, 65536, 2147483647, 4294967295L, 99999999999L};
	char b[32];
	long v;
	switch (below(r, 4)) {
	case 0:
		v = interesting[below(r, sizeof(interesting) / sizeof(interesting[0]))];
		break;
	case 1:
		v = below(r, 300);
		break;
	case 2:
		v = below(r, 10);
		break;
	default:
		v = (long)(rnd(r) >> below(r, 64));
		if (v < 0)
			v = -v;
		break;
	}
	snprintf(b, sizeof(b), "%ld", v);
	adds(o, b);
}

static void gen_csi(struct rng *r, struct out *o)
{
	static const char finals[] = "@ABCDEFGHIJKLMPSTXZ`abcdefghlmnpqrsuJKLM";
	static const char *const canned[] = {
		"\x1b[?2026$p", "\x1b[?1049h", "\x1b[?1049l", "\x1b[?47h", "\x1b[?1047l",
		"\x1b[?2026h", "\x1b[?2026l", "\x1b[3J", "\x1b[2J", "\x1b[s", "\x1b[u",
		"\x1b[?u", "\x1b[>1u", "\x1b[<u", "\x1b[=5;2u", "\x1b[>4;2m", "\x1b[>0q",
		"\x1b[!p", "\x1b[r", "\x1b[?6h", "\x1b[?6l", "\x1b[?7l", "\x1b[?7h",
		"\x1b[?25l", "\x1b[?25h", "\x1b[6n", "\x1b[c", "\x1b[>c", "\x1b[5n",
		"\x1b[4h", "\x1b[4l", "\x1b[?5h", "\x1b[?5l", "\x1b[3g", "\x1b[1;1H",
		"\x1b[999;999H", "\x1b[38;2;1;2;3m", "\x1b[48;5;200m", "\x1b[38:2::1:2:3m",
	};
	if (chance(r, 30)) {
		adds(o, canned[below(r, sizeof(canned) / sizeof(canned[0]))]);
		return;
	}
	adds(o, "\x1b[");
	if (chance(r, 40))
		addc(o, (unsigned char)"?><="[below(r, 4)]);
	unsigned nparams = below(r, 6);
	if (chance(r, 3))
		nparams = 20 + below(r, 60); /* more than libtsm's 16 */
	for (unsigned i = 0; i < nparams; i++) {
		if (i)
			addc(o, chance(r, 90) ? ';' : ':');
		if (chance(r, 85))
			add_param(r, o);
	}
	unsigned inter = 0;
	if (chance(r, 15)) {
		inter = 0x20 + below(r, 16); /* intermediate */
		addc(o, inter);
	}
	if (chance(r, 3))
		addc(o, below(r, 0x20)); /* a C0 control inside the sequence */
	if (chance(r, 2))
		return; /* unterminated: the next token cuts it */
	unsigned fin = chance(r, 80) ? (unsigned char)finals[below(r, sizeof(finals) - 1)]
				    : 0x40 + below(r, 0x3f);
	addc(o, fin);
}

static void gen_string(struct rng *r, struct out *o)
{
	static const char *const intro[] = {"\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX",
					    "\xc2\x9d", "\xc2\x90"};
	static const char *const heads[] = {"0;", "2;", "8;;", "10;?", "11;?", "12;?",
					    "4;1;?", "52;c;", "+q544e", "1337;", ""};
	adds(o, intro[below(r, sizeof(intro) / sizeof(intro[0]))]);
	adds(o, heads[below(r, sizeof(heads) / sizeof(heads[0]))]);
	unsigned len = chance(r, 5) ? 100 + below(r, 400) : below(r, 40);
	for (unsigned i = 0; i < len; i++)
		addc(o, chance(r, 90) ? 0x20 + below(r, 0x5f) : below(r, 256));
	switch (below(r, 6)) {
	case 0: addc(o, 0x07); break;
	case 1: adds(o, "\x1b\\"); break;
	case 2: adds(o, "\x1b[m"); break;  /* cut by a new sequence */
	case 3: addc(o, 0x18); break;      /* CAN */
	case 4: adds(o, "\xc2\x9c"); break; /* C1 ST in UTF-8 */
	default: break;                   /* unterminated */
	}
}

static void gen_utf8(struct rng *r, struct out *o)
{
	static const char *const odd[] = {
		"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xf0\x80\x80\x80", /* overlong */
		"\xed\xa0\x80", "\xed\xbf\xbf",                             /* surrogates */
		"\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\xfe", /* too big */
		"\x80", "\xbf", "\xc3", "\xe4\xb8", "\xf0\x9f\x98",         /* truncated */
		"\xef\xbb\xbf", "\xef\xbf\xbd", "\xef\xbf\xbf",             /* BOM, FFFD, FFFF */
		"\xcc\x81", "\xe2\x80\x8b", "\xe2\x80\x8d", "\xef\xb8\x8f", /* zero width */
		"\xe4\xb8\xad", "\xe6\x96\x87", "\xef\xbc\xa1",             /* wide */
		"\xf0\x9f\x98\x80", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",     /* emoji */
		"\xe2\x94\x80", "\xe2\x96\x88", "\xc3\xa9",
	};
	if (chance(r, 60)) {
		adds(o, odd[below(r, sizeof(odd) / sizeof(odd[0]))]);
		return;
	}
	/* any code point, encoded correctly */
	uint32_t cp = below(r, 4) == 0 ? below(r, 0x110000) : 0x80 + below(r, 0x3000);
	char b[4];
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		add(o, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		add(o, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		add(o, b, 4);
	}
}

/* One token of the grammar. */
static void gen_token(struct rng *r, struct out *o)
{
	unsigned k = below(r, 100);
	if (k < 25) { /* text */
		unsigned n = 1 + below(r, 80);
		for (unsigned i = 0; i < n; i++)
			addc(o, 0x20 + below(r, 0x5f));
	} else if (k < 33) {
		adds(o, chance(r, 50) ? "\r\n" : "\n");
	} else if (k < 55) {
		gen_csi(r, o);
	} else if (k < 62) {
		gen_string(r, o);
	} else if (k < 75) {
		gen_utf8(r, o);
	} else if (k < 82) { /* C0 controls, DEL, C1 (raw and UTF-8) */
		unsigned c = below(r, 4);
		if (c == 0)
			addc(o, below(r, 0x20));
		else if (c == 1)
			addc(o, 0x7f);
		else if (c == 2)
			addc(o, 0x80 + below(r, 0x20));
		else {
			addc(o, 0xc2);
			addc(o, 0x80 + below(r, 0x20));
		}
	} else if (k < 90) { /* other ESC sequences, possibly broken */
		static const char *const esc[] = {"\x1b" "7", "\x1b" "8", "\x1b" "c", "\x1b" "D",
						  "\x1b" "E", "\x1b" "M", "\x1b" "H", "\x1b=", "\x1b>",
						  "\x1b(0", "\x1b(B", "\x1b)0", "\x1b#8", "\x1b", "\x1b\x1b",
						  "\x1b(", "\x1b%G", "\x1b \x1b"};
		adds(o, esc[below(r, sizeof(esc) / sizeof(esc[0]))]);
	} else { /* raw random bytes */
		unsigned n = 1 + below(r, 32);
		for (unsigned i = 0; i < n; i++)
			addc(o, below(r, 256));
	}
}

/* ---- invariants ---- */

struct stats {
	size_t snapshots, resizes, bytes, scrolled;
};

static void check_snapshot(struct vt_screen *s, unsigned sb_max, struct stats *st)
{
	struct vt_frame f;
	cr_assert_eq(vt_screen_snapshot(s, &f), 0, "snapshot failed");
	st->snapshots++;
	cr_assert_eq(f.cols, vt_screen_cols(s));
	cr_assert_eq(f.rows, vt_screen_rows(s));
	cr_assert_lt(f.cursor_x, f.cols, "cursor x %u of %u", f.cursor_x, f.cols);
	cr_assert_lt(f.cursor_y, f.rows, "cursor y %u of %u", f.cursor_y, f.rows);
	cr_assert_eq(f.alt_screen, vt_screen_alt_active(s));
	char *buf = malloc(vt_frame_row_cap(&f));
	cr_assert_not_null(buf);
	for (unsigned y = 0; y < f.rows; y++) {
		cr_assert_leq(f.row_end[y], f.cols);
		for (unsigned x = 0; x < f.cols; x++)
			cr_assert_leq(vt_frame_cell(&f, x, y)->width, 2);
		int n = vt_frame_row_text(&f, y, buf, vt_frame_row_cap(&f));
		cr_assert_geq(n, 0, "row %u: vt_frame_row_text failed (%d)", y, n);
		cr_assert_leq((size_t)n, (size_t)f.cols * 4, "row %u: %d bytes for %u columns",
			      y, n, f.cols);
		cr_assert_eq(strlen(buf), (size_t)n, "row %u: NUL inside the text", y);
		cr_assert(utf8_valid(buf, (size_t)n), "row %u: invalid UTF-8", y);
	}
	free(buf);
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(vt_frame_text(&f, &text, &len), 0);
	cr_assert(utf8_valid(text, len), "frame text: invalid UTF-8");
	free(text);
	for (size_t i = 0; i < f.nscrolled; i++) {
		cr_assert_not_null(f.scrolled[i]);
		cr_assert(utf8_valid(f.scrolled[i], strlen(f.scrolled[i])),
			  "scrolled line %zu: invalid UTF-8", i);
	}
	st->scrolled += f.nscrolled;
	size_t hl = vt_screen_history_len(s);
	cr_assert_leq(hl, sb_max, "history %zu lines, bound %u", hl, sb_max);
	for (size_t i = 0; i < hl; i++) {
		const char *line = vt_screen_history_line(s, i);
		cr_assert_not_null(line);
		cr_assert(utf8_valid(line, strlen(line)), "history line %zu: invalid UTF-8", i);
	}
	cr_assert_null(vt_screen_history_line(s, hl));
	vt_frame_free(&f);
}

static size_t nreply;

static void count_reply(void *data, const char *b, size_t n)
{
	(void)data;
	cr_assert_not_null(b);
	nreply += n;
}

/* Feeds one read from an exact-size heap copy, so that ASan catches a read
 * past its end (the filter scans ahead for sequences and characters). */
static void feed_exact(struct vt_screen *s, const char *p, size_t n)
{
	char *copy = malloc(n ? n : 1);
	cr_assert_not_null(copy);
	memcpy(copy, p, n);
	vt_screen_feed(s, copy, n);
	free(copy);
}

/* Runs `total` bytes of generated input through one screen. */
static void fuzz_run(uint64_t seed, size_t total)
{
	struct rng r = {seed * 0x9e3779b97f4a7c15ull + 1};
	unsigned sb_max = 1 + below(&r, 300);
	/* (one draw per statement: initialiser order is unspecified) */
	struct vt_screen_opts o = {.scrollback_lines = sb_max, .reply = count_reply};
	o.cols = FUZZ_MIN_COLS + below(&r, 301 - FUZZ_MIN_COLS);
	o.rows = 1 + below(&r, 100);
	struct vt_screen *s;
	cr_assert_eq(vt_screen_new(&s, &o), 0);
	struct stats st = {0};
	struct out in = {0};
	while (st.bytes < total) {
		in.n = 0;
		size_t want = 256 + below(&r, 16384);
		while (in.n < want)
			gen_token(&r, &in);
		/* random read boundaries */
		for (size_t off = 0; off < in.n;) {
			size_t n = chance(&r, 20) ? 1 + below(&r, 4) : 1 + below(&r, 4096);
			if (n > in.n - off)
				n = in.n - off;
			feed_exact(s, in.p + off, n);
			off += n;
			if (chance(&r, 5)) {
				unsigned c = FUZZ_MIN_COLS + below(&r, 301 - FUZZ_MIN_COLS);
				unsigned rw = 1 + below(&r, 100);
				cr_assert_eq(vt_screen_resize(s, c, rw), 0);
				cr_assert_eq(vt_screen_cols(s), c);
				cr_assert_eq(vt_screen_rows(s), rw);
				st.resizes++;
			}
			if (chance(&r, 10))
				check_snapshot(s, sb_max, &st);
		}
		st.bytes += in.n;
	}
	check_snapshot(s, sb_max, &st);
	cr_log_info("seed %llu: %zu bytes, %zu snapshots, %zu resizes, %zu lines scrolled",
		    (unsigned long long)seed, st.bytes, st.snapshots, st.resizes, st.scrolled);
	free(in.p);
	vt_screen_free(s);
}

/* 4 x 0.75 MB of generated input, each seed a fresh screen. */
Test(fuzz, random_streams_keep_frames_valid)
{
	for (uint64_t seed = 1; seed <= 4; seed++)
		fuzz_run(seed, 3u << 18);
}

/* Tiny screens are where off-by-one errors live. */
Test(fuzz, random_streams_on_tiny_screens)
{
	for (uint64_t seed = 100; seed < 108; seed++) {
		struct rng r = {seed};
		struct vt_screen_opts o = {0};
		o.cols = FUZZ_MIN_COLS + below(&r, 3);
		o.rows = 1 + below(&r, 3);
		o.scrollback_lines = 1 + below(&r, 3);
		struct vt_screen *s;
		cr_assert_eq(vt_screen_new(&s, &o), 0);
		struct stats st = {0};
		struct out in = {0};
		while (in.n < 64 * 1024)
			gen_token(&r, &in);
		for (size_t off = 0; off < in.n;) {
			size_t n = 1 + below(&r, 64);
			if (n > in.n - off)
				n = in.n - off;
			feed_exact(s, in.p + off, n);
			off += n;
			if (chance(&r, 3)) {
				unsigned c = FUZZ_MIN_COLS + below(&r, 3);
				unsigned rw = 1 + below(&r, 3);
				cr_assert_eq(vt_screen_resize(s, c, rw), 0);
			}
			if (chance(&r, 10))
				check_snapshot(s, o.scrollback_lines, &st);
		}
		check_snapshot(s, o.scrollback_lines, &st);
		free(in.p);
		vt_screen_free(s);
	}
}

/* Differential: where the reads are cut must not change the screen. */
static char *frame_dump(struct vt_screen *s)
{
	struct vt_frame f;
	cr_assert_eq(vt_screen_snapshot(s, &f), 0);
	char *text = NULL;
	cr_assert_eq(vt_frame_text(&f, &text, NULL), 0);
	struct out o = {0};
	char b[64];
	snprintf(b, sizeof(b), "cursor %u,%u alt %d\n", f.cursor_x, f.cursor_y, f.alt_screen);
	adds(&o, b);
	adds(&o, text);
	for (size_t i = 0; i < f.nscrolled; i++) {
		adds(&o, "scrolled: ");
		adds(&o, f.scrolled[i]);
		adds(&o, "\n");
	}
	addc(&o, 0);
	free(text);
	vt_frame_free(&f);
	return o.p;
}

Test(fuzz, split_reads_do_not_change_the_screen)
{
	for (uint64_t seed = 200; seed < 400; seed++) {
		struct rng r = {seed};
		struct vt_screen_opts o = {0};
		o.cols = FUZZ_MIN_COLS + below(&r, 120);
		o.rows = 1 + below(&r, 40);
		struct vt_screen *a, *b;
		cr_assert_eq(vt_screen_new(&a, &o), 0);
		cr_assert_eq(vt_screen_new(&b, &o), 0);
		struct out in = {0};
		while (in.n < 8192)
			gen_token(&r, &in);
		vt_screen_feed(a, in.p, in.n);
		for (size_t off = 0; off < in.n;) {
			size_t n = 1 + below(&r, chance(&r, 50) ? 4 : 200);
			if (n > in.n - off)
				n = in.n - off;
			feed_exact(b, in.p + off, n);
			off += n;
		}
		char *da = frame_dump(a), *db = frame_dump(b);
		cr_expect_str_eq(db, da, "seed %llu", (unsigned long long)seed);
		free(da);
		free(db);
		free(in.p);
		vt_screen_free(a);
		vt_screen_free(b);
	}
}
