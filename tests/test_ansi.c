/* test_ansi.c — vt_frame_ansi(): byte-level checks, and round trips through
 * tmux (the reference terminal) comparing text, per-cell attributes/colours
 * and the cursor with the frame that was rendered. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt_frame.h"

/* ---- building frames by hand ---- */

static void frame_init(struct vt_frame *f, unsigned cols, unsigned rows)
{
	cr_assert_eq(vt_frame_alloc(f, cols, rows), 0);
	for (size_t i = 0; i < (size_t)cols * rows; i++) {
		f->cells[i].width = 1;
		f->cells[i].fg_code = VT_COLOR_DEFAULT;
		f->cells[i].bg_code = VT_COLOR_DEFAULT;
	}
}

static struct vt_cell *cell_at(struct vt_frame *f, unsigned x, unsigned y)
{
	return &f->cells[(size_t)y * f->cols + x];
}

/* Sets row_end[] as the screen layer does: up to the last non-blank cell
 * (a wide glyph counts with its right half). */
static void fix_row_end(struct vt_frame *f)
{
	for (unsigned y = 0; y < f->rows; y++) {
		unsigned end = 0;
		for (unsigned x = 0; x < f->cols; x++) {
			const struct vt_cell *c = vt_frame_cell(f, x, y);
			if (c->width != 0 && c->ch != 0 && c->ch != ' ')
				end = x + (c->width == 2 ? 2 : 1);
		}
		f->row_end[y] = (uint16_t)(end > f->cols ? f->cols : end);
	}
}

/* ASCII text at (x, y) with one style. */
static void put_text(struct vt_frame *f, unsigned x, unsigned y,
		     const char *s, uint8_t attrs, int8_t fg, int8_t bg)
{
	for (; *s; s++, x++) {
		struct vt_cell *c = cell_at(f, x, y);
		c->ch = (uint8_t)*s;
		c->attrs = attrs;
		c->fg_code = fg;
		c->bg_code = bg;
	}
	fix_row_end(f);
}

/* A wide glyph: width 2 at x, width-0 right half at x + 1. */
static void put_wide(struct vt_frame *f, unsigned x, unsigned y, uint32_t cp)
{
	struct vt_cell *c = cell_at(f, x, y);
	c->ch = cp;
	c->width = 2;
	c[1] = *c;
	c[1].ch = 0;
	c[1].width = 0;
	fix_row_end(f);
}

static void set_rgb(uint8_t *dst, uint8_t r, uint8_t g, uint8_t b)
{
	dst[0] = r;
	dst[1] = g;
	dst[2] = b;
}

static char *ansi_of(const struct vt_frame *f, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	cr_assert_eq(vt_frame_ansi(f, &out, &n), 0);
	cr_assert_not_null(out);
	cr_assert_eq(strlen(out), n, "len must match the NUL-terminated string");
	if (len)
		*len = n;
	return out;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);
	for (const char *p = strstr(hay, needle); p; p = strstr(p + k, needle))
		n++;
	return n;
}

/* Number of SGR sequences (ESC [ digits/semicolons m). */
static size_t count_sgr(const char *s)
{
	size_t n = 0;
	for (const char *p = strstr(s, "\x1b["); p; p = strstr(p + 2, "\x1b[")) {
		size_t k = strspn(p + 2, "0123456789;");
		if (p[2 + k] == 'm')
			n++;
	}
	return n;
}

/* ---- pure tests of the byte string ---- */

Test(ansi, einval_on_null)
{
	struct vt_frame f;
	char *out = NULL;
	size_t len = 0;
	cr_expect_eq(vt_frame_ansi(NULL, &out, &len), -EINVAL);
	frame_init(&f, 4, 2);
	cr_expect_eq(vt_frame_ansi(&f, NULL, &len), -EINVAL);
	vt_frame_free(&f);
}

Test(ansi, framed_by_synchronized_update)
{
	struct vt_frame f;
	frame_init(&f, 10, 3);
	put_text(&f, 0, 1, "hi", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	size_t len;
	char *out = ansi_of(&f, &len);
	const char *head = "\x1b[?2026h", *tail = "\x1b[?2026l";
	cr_assert(len > strlen(head) + strlen(tail));
	cr_expect_eq(strncmp(out, head, strlen(head)), 0);
	cr_expect_str_eq(out + len - strlen(tail), tail);
	/* reset, hide cursor and clear come before any row is drawn */
	const char *clear = strstr(out, "\x1b[2J");
	cr_assert_not_null(clear);
	cr_expect(strstr(out, "\x1b[0m") < clear);
	cr_expect(strstr(out, "\x1b[?25l") < clear);
	cr_expect(strstr(out, "hi") > clear);
	free(out);
	vt_frame_free(&f);
}

Test(ansi, sgr_only_on_change)
{
	struct vt_frame f;
	frame_init(&f, 12, 2);
	put_text(&f, 0, 0, "RRRRR", VT_ATTR_BOLD, 1, VT_COLOR_DEFAULT);
	put_text(&f, 5, 0, "ddddd", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	/* same style on the next row: no SGR needed, the row move keeps it */
	put_text(&f, 0, 1, "dd", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	char *out = ansi_of(&f, NULL);
	cr_expect_eq(count_str(out, "31"), 1, "red set once: %s", out);
	cr_expect_eq(count_str(out, "RRRRR"), 1, "identical cells run together");
	/* initial reset, bold red, back to default, final reset */
	cr_expect_eq(count_sgr(out), 4, "got %zu SGRs", count_sgr(out));
	free(out);
	vt_frame_free(&f);
}

Test(ansi, sgr_codes)
{
	struct vt_frame f;
	frame_init(&f, 8, 1);
	put_text(&f, 0, 0, "a", 0x1f, 9, 12); /* every attribute, bright colours */
	put_text(&f, 1, 0, "b", 0x1f, VT_COLOR_RGB, VT_COLOR_RGB);
	set_rgb(cell_at(&f, 1, 0)->fg, 1, 2, 3);
	set_rgb(cell_at(&f, 1, 0)->bg, 4, 5, 6);
	put_text(&f, 2, 0, "c", VT_ATTR_BOLD, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	char *out = ansi_of(&f, NULL);
	cr_expect_not_null(strstr(out, "\x1b[1;3;4;5;7;91;104ma"), "got: %s", out);
	cr_expect_not_null(strstr(out, "\x1b[38;2;1;2;3;48;2;4;5;6mb"), "got: %s", out);
	/* dropping attributes needs a reset, then the rebuild */
	cr_expect_not_null(strstr(out, "\x1b[0;1mc"), "got: %s", out);
	free(out);
	vt_frame_free(&f);
}

Test(ansi, rgb_fg_ignored_unless_rgb_code)
{
	/* fg[]/bg[] are resolved for every code; differing RGB bytes under the
	 * same palette code must not cause an SGR. */
	struct vt_frame f;
	frame_init(&f, 4, 1);
	put_text(&f, 0, 0, "ab", 0, 2, VT_COLOR_DEFAULT);
	set_rgb(cell_at(&f, 0, 0)->fg, 0, 205, 0);
	set_rgb(cell_at(&f, 1, 0)->fg, 1, 1, 1);
	char *out = ansi_of(&f, NULL);
	cr_expect_eq(count_sgr(out), 3, "got: %s", out);
	cr_expect_not_null(strstr(out, "\x1b[32mab"));
	free(out);
	vt_frame_free(&f);
}

Test(ansi, no_mode_changes_for_modes_field)
{
	struct vt_frame f;
	frame_init(&f, 6, 2);
	f.modes = 0xffffffffu;
	f.alt_screen = true;
	put_text(&f, 0, 0, "x", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	char *out = ansi_of(&f, NULL);
	for (const char *p = strstr(out, "\x1b[?"); p; p = strstr(p + 1, "\x1b[?")) {
		bool ok = !strncmp(p, "\x1b[?2026h", 8) || !strncmp(p, "\x1b[?2026l", 8) ||
			  !strncmp(p, "\x1b[?25h", 6) || !strncmp(p, "\x1b[?25l", 6);
		cr_expect(ok, "unexpected private mode at: %.10s", p + 1);
	}
	free(out);
	vt_frame_free(&f);
}

Test(ansi, nothing_printed_after_full_last_row)
{
	struct vt_frame f;
	frame_init(&f, 5, 2);
	put_text(&f, 0, 1, "abcde", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	f.cursor_x = 5; /* pending wrap: clamped to the last column */
	f.cursor_y = 1;
	f.cursor_visible = true;
	char *out = ansi_of(&f, NULL);
	const char *want = "abcde\x1b[0m\x1b[2;5H\x1b[?25h\x1b[?2026l";
	size_t n = strlen(out), k = strlen(want);
	cr_assert(n > k);
	cr_expect_str_eq(out + n - k, want);
	free(out);
	vt_frame_free(&f);
}

Test(ansi, control_chars_never_emitted)
{
	struct vt_frame f;
	frame_init(&f, 6, 1);
	put_text(&f, 0, 0, "a", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	cell_at(&f, 1, 0)->ch = 0x1b;
	cell_at(&f, 2, 0)->ch = 0x9b; /* C1 CSI */
	cell_at(&f, 3, 0)->ch = '\n';
	put_text(&f, 4, 0, "z", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	char *out = ansi_of(&f, NULL);
	cr_expect_eq(count_str(out, "\x1b"), count_str(out, "\x1b["),
		     "every ESC starts one of our own CSI sequences");
	cr_expect_null(strstr(out, "\xc2\x9b"));
	cr_expect_null(strchr(out, '\n'));
	cr_expect_eq(count_str(out, "\xef\xbf\xbd"), 3);
	free(out);
	vt_frame_free(&f);
}

Test(ansi, wide_glyph_in_last_column_not_printed)
{
	/* Malformed frame: a wide glyph with no room for its right half would
	 * wrap (and scroll on the last row) in a real terminal. */
	struct vt_frame f;
	frame_init(&f, 4, 1);
	put_text(&f, 0, 0, "abc", 0, VT_COLOR_DEFAULT, VT_COLOR_DEFAULT);
	cell_at(&f, 3, 0)->ch = 0x4e2d;
	cell_at(&f, 3, 0)->width = 2;
	char *out = ansi_of(&f, NULL);
	cr_expect_null(strstr(out, "\xe4\xb8\xad"));
	cr_expect_not_null(strstr(out, "abc \x1b[0m"));
	free(out);
	vt_frame_free(&f);
}

/* ---- round trips through tmux ---- */

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Runs a shell command and returns its stdout (malloc'ed). */
static char *run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert(n > 0 && (size_t)n < sizeof(cmd));
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s", cmd);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += r;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[len] = '\0';
	pclose(p);
	return buf;
}

static bool have_tmux(void)
{
	return system("command -v tmux >/dev/null 2>&1") == 0;
}

struct tty {
	bool started;
	char dir[64];
	char sock[96];
};

/* The pane of the running test (each test runs in its own process); the
 * suite's fini stops it even when an assertion aborted the test. */
static struct tty cur_tty;

/* Starts a detached tmux pane of the frame's size that cats the ANSI bytes,
 * and waits until the screen has settled. */
static void tty_start(struct tty *t, const struct vt_frame *f, const char *tag)
{
	if (!have_tmux())
		cr_skip_test("tmux not installed");
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_ansi.XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
	snprintf(t->sock, sizeof(t->sock), "test-ansi-%ld-%s", (long)getpid(), tag);
	t->started = true;

	size_t len;
	char *bytes = ansi_of(f, &len);
	char path[128];
	snprintf(path, sizeof(path), "%s/in", t->dir);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(bytes, 1, len, fp), len);
	fclose(fp);
	free(bytes);

	free(run("unset TMUX; tmux -L %s -f /dev/null new-session -d -s t -x %u -y %u "
		 "\"stty raw -echo; cat '%s/in'; touch '%s/done'; sleep 60\"",
		 t->sock, f->cols, f->rows, t->dir, t->dir));
	snprintf(path, sizeof(path), "%s/done", t->dir);
	for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
		msleep(25);
	cr_assert_eq(access(path, F_OK), 0, "tmux pane never finished cat");

	/* cat being done does not mean tmux has parsed everything: poll until
	 * the screen and cursor stop changing. */
	char *prev = NULL;
	for (int i = 0; i < 60; i++) {
		msleep(50);
		char *cur = run("tmux -L %s capture-pane -p -e -N -t t; "
				"tmux -L %s display -p -t t '#{cursor_x} #{cursor_y}'",
				t->sock, t->sock);
		bool stable = prev && strcmp(prev, cur) == 0;
		free(prev);
		prev = cur;
		if (stable && i >= 3)
			break;
	}
	free(prev);

	char *size = run("tmux -L %s display -p -t t '#{pane_width}x#{pane_height}'",
			 t->sock);
	char want[32];
	snprintf(want, sizeof(want), "%ux%u\n", f->cols, f->rows);
	cr_assert_str_eq(size, want, "pane has the frame's size");
	free(size);
}

static void tty_stop(struct tty *t)
{
	if (!t->started)
		return;
	t->started = false;
	/* tmux leaves its socket file behind; remove it too */
	char *sockpath = run("tmux -L %s display -p '#{socket_path}' 2>/dev/null", t->sock);
	sockpath[strcspn(sockpath, "\n")] = '\0';
	free(run("tmux -L %s kill-server 2>/dev/null", t->sock));
	if (*sockpath)
		unlink(sockpath);
	free(sockpath);
	char path[128];
	snprintf(path, sizeof(path), "%s/in", t->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/done", t->dir);
	unlink(path);
	rmdir(t->dir);
}

/* Plain capture, trailing blanks trimmed, exactly `rows` lines (as
 * tools/tty-golden does). */
static char *tty_text(struct tty *t, unsigned rows)
{
	char *raw = run("tmux -L %s capture-pane -p -t t", t->sock);
	char *out = malloc(strlen(raw) + rows + 1);
	cr_assert_not_null(out);
	size_t n = 0;
	unsigned lines = 0;
	for (char *line = raw; *line && lines < rows; lines++) {
		char *nl = strchr(line, '\n');
		size_t k = nl ? (size_t)(nl - line) : strlen(line);
		while (k > 0 && (line[k - 1] == ' ' || line[k - 1] == '\t'))
			k--;
		memcpy(out + n, line, k);
		n += k;
		out[n++] = '\n';
		line = nl ? nl + 1 : line + strlen(line);
	}
	for (; lines < rows; lines++)
		out[n++] = '\n';
	out[n] = '\0';
	free(raw);
	return out;
}

static bool test_is_wide(uint32_t cp)
{
	return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	       (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	       (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0x20000 && cp <= 0x3fffd);
}

static uint32_t utf8_next(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	uint32_t cp;
	int extra;
	if (p[0] < 0x80) {
		cp = p[0];
		extra = 0;
	} else if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		extra = 1;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		extra = 2;
	} else {
		cp = p[0] & 0x07;
		extra = 3;
	}
	for (int i = 1; i <= extra; i++) {
		cr_assert_eq(p[i] & 0xc0, 0x80, "bad UTF-8 from tmux");
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*s += 1 + extra;
	return cp;
}

/* Applies one SGR parameter list to *st; *pp points after "ESC[". */
static void apply_sgr(struct vt_cell *st, const char **pp)
{
	long v[32];
	int n = 0;
	const char *p = *pp;
	while (*p != 'm') {
		cr_assert(n < 32 && (*p == ';' || (*p >= '0' && *p <= '9')),
			  "unexpected byte in tmux SGR: %c", *p);
		char *end;
		v[n++] = strtol(p, &end, 10); /* empty parameter is 0 */
		p = *end == ';' ? end + 1 : end;
	}
	*pp = p + 1;
	if (n == 0)
		v[n++] = 0;
	for (int i = 0; i < n; i++) {
		long c = v[i];
		if (c == 0) {
			st->attrs = 0;
			st->fg_code = st->bg_code = VT_COLOR_DEFAULT;
		} else if (c == 1) {
			st->attrs |= VT_ATTR_BOLD;
		} else if (c == 3) {
			st->attrs |= VT_ATTR_ITALIC;
		} else if (c == 4) {
			st->attrs |= VT_ATTR_UNDERLINE;
		} else if (c == 5) {
			st->attrs |= VT_ATTR_BLINK;
		} else if (c == 7) {
			st->attrs |= VT_ATTR_INVERSE;
		} else if (c == 22) {
			st->attrs &= (uint8_t)~VT_ATTR_BOLD;
		} else if (c == 23) {
			st->attrs &= (uint8_t)~VT_ATTR_ITALIC;
		} else if (c == 24) {
			st->attrs &= (uint8_t)~VT_ATTR_UNDERLINE;
		} else if (c == 25) {
			st->attrs &= (uint8_t)~VT_ATTR_BLINK;
		} else if (c == 27) {
			st->attrs &= (uint8_t)~VT_ATTR_INVERSE;
		} else if ((c >= 30 && c <= 39) || (c >= 40 && c <= 49) ||
			   (c >= 90 && c <= 97) || (c >= 100 && c <= 107)) {
			bool bg = (c >= 40 && c <= 49) || c >= 100;
			int8_t *code = bg ? &st->bg_code : &st->fg_code;
			uint8_t *rgb = bg ? st->bg : st->fg;
			long base = c >= 90 ? (bg ? 100 : 90) : (bg ? 40 : 30);
			long k = c - base;
			if (c >= 90)
				*code = (int8_t)(8 + k);
			else if (k < 8)
				*code = (int8_t)k;
			else if (k == 9)
				*code = VT_COLOR_DEFAULT;
			else if (i + 1 < n && v[i + 1] == 2 && i + 4 < n) {
				*code = VT_COLOR_RGB;
				set_rgb(rgb, (uint8_t)v[i + 2], (uint8_t)v[i + 3],
					(uint8_t)v[i + 4]);
				i += 4;
			} else if (i + 2 < n && v[i + 1] == 5 && v[i + 2] < 16) {
				*code = (int8_t)v[i + 2];
				i += 2;
			} else {
				cr_assert_fail("unsupported colour SGR from tmux");
			}
		} else {
			cr_assert_fail("unexpected SGR %ld from tmux", c);
		}
	}
}

/* Parses `capture-pane -p -e -N` (text plus SGR; tmux carries the style
 * across lines) into a frame-shaped grid. */
static void tty_cells(struct tty *t, struct vt_frame *g, unsigned cols,
		      unsigned rows)
{
	frame_init(g, cols, rows);
	char *raw = run("tmux -L %s capture-pane -p -e -N -t t", t->sock);
	struct vt_cell st = { .fg_code = VT_COLOR_DEFAULT, .bg_code = VT_COLOR_DEFAULT };
	unsigned x = 0, y = 0;
	for (const char *p = raw; *p;) {
		if (*p == '\n') {
			x = 0;
			y++;
			p++;
		} else if (p[0] == '\x1b' && p[1] == '[') {
			p += 2;
			apply_sgr(&st, &p);
		} else {
			uint32_t cp = utf8_next(&p);
			unsigned w = test_is_wide(cp) ? 2 : 1;
			cr_assert(y < rows && x + w <= cols, "capture overflows the pane");
			struct vt_cell *c = cell_at(g, x, y);
			*c = st;
			c->ch = cp;
			c->width = (uint8_t)w;
			if (w == 2) {
				c[1] = *c;
				c[1].ch = 0;
				c[1].width = 0;
			}
			x += w;
		}
	}
	free(raw);
}

static bool color_eq(int8_t ca, const uint8_t *a, int8_t cb, const uint8_t *b)
{
	return ca == cb && (ca != VT_COLOR_RGB || memcmp(a, b, 3) == 0);
}

/* Renders f, replays it in tmux and checks text, every visible cell's
 * attributes and colours, and the cursor. */
static void tty_fini(void)
{
	tty_stop(&cur_tty);
}

TestSuite(ansi_tty, .fini = tty_fini);

static void check_round_trip(const struct vt_frame *f, const char *tag)
{
	struct tty *t = &cur_tty;
	tty_start(t, f, tag);

	char *want_text = NULL;
	cr_assert_eq(vt_frame_text(f, &want_text, NULL), 0);
	char *got_text = tty_text(t, f->rows);
	cr_expect_str_eq(got_text, want_text);

	struct vt_frame g;
	tty_cells(t, &g, f->cols, f->rows);
	for (unsigned y = 0; y < f->rows; y++) {
		for (unsigned x = 0; x < f->cols; x++) {
			const struct vt_cell *e = vt_frame_cell(f, x, y);
			const struct vt_cell *a = vt_frame_cell(&g, x, y);
			if (e->width == 0)
				continue;
			uint32_t ech = e->ch ? e->ch : ' ', ach = a->ch ? a->ch : ' ';
			cr_expect_eq(ach, ech, "cell %u,%u: U+%04X, want U+%04X", x, y,
				     ach, ech);
			cr_expect_eq(a->width, e->width, "cell %u,%u width", x, y);
			cr_expect(color_eq(a->bg_code, a->bg, e->bg_code, e->bg),
				  "cell %u,%u bg %d, want %d", x, y, a->bg_code, e->bg_code);
			/* fg and attributes only show on ink (or as underline/inverse) */
			bool ink = ech != ' ' ||
				   (e->attrs & (VT_ATTR_UNDERLINE | VT_ATTR_INVERSE));
			if (!ink)
				continue;
			cr_expect_eq(a->attrs, e->attrs, "cell %u,%u attrs %#x, want %#x",
				     x, y, a->attrs, e->attrs);
			cr_expect(color_eq(a->fg_code, a->fg, e->fg_code, e->fg),
				  "cell %u,%u fg %d, want %d", x, y, a->fg_code, e->fg_code);
		}
	}
	vt_frame_free(&g);

	char *cur = run("tmux -L %s display -p -t t '#{cursor_x} #{cursor_y} #{cursor_flag}'",
			t->sock);
	char want_cur[64];
	snprintf(want_cur, sizeof(want_cur), "%u %u %d\n", f->cursor_x, f->cursor_y,
		 f->cursor_visible ? 1 : 0);
	cr_expect_str_eq(cur, want_cur);

	free(cur);
	free(got_text);
	free(want_text);
	tty_stop(t);
}

Test(ansi_tty, plain_rows_with_blank_rows_between)
{
	struct vt_frame f;
	frame_init(&f, 20, 6);
	const int8_t D = VT_COLOR_DEFAULT;
	put_text(&f, 0, 0, "hello world", 0, D, D);
	put_text(&f, 2, 2, "indented", 0, D, D);
	put_text(&f, 0, 4, "a", 0, D, D);
	put_text(&f, 5, 4, "gap", 0, D, D); /* ch == 0 cells between */
	f.cursor_x = 8;
	f.cursor_y = 4;
	f.cursor_visible = true;
	check_round_trip(&f, "plain");
	vt_frame_free(&f);
}

Test(ansi_tty, full_rows_do_not_scroll)
{
	struct vt_frame f;
	frame_init(&f, 10, 3);
	const int8_t D = VT_COLOR_DEFAULT;
	put_text(&f, 0, 0, "top", 0, D, D);
	put_text(&f, 0, 1, "abcdefghij", 0, D, D);
	put_text(&f, 0, 2, "0123456789", VT_ATTR_BOLD, 3, 4);
	f.cursor_x = 9;
	f.cursor_y = 2;
	f.cursor_visible = true;
	check_round_trip(&f, "full");
	vt_frame_free(&f);
}

Test(ansi_tty, wide_glyphs)
{
	struct vt_frame f;
	frame_init(&f, 10, 3);
	const int8_t D = VT_COLOR_DEFAULT;
	put_text(&f, 0, 0, "a", 0, D, D);
	put_wide(&f, 1, 0, 0x4e2d);
	put_text(&f, 3, 0, "b", 0, D, D);
	for (unsigned x = 0; x < 10; x += 2) /* full last row of wide glyphs */
		put_wide(&f, x, 2, 0x4e2d);
	cell_at(&f, 4, 2)->fg_code = 1;
	cell_at(&f, 5, 2)->fg_code = 1;
	f.cursor_x = 4;
	f.cursor_y = 0;
	f.cursor_visible = true;
	check_round_trip(&f, "wide");
	vt_frame_free(&f);
}

Test(ansi_tty, attributes_and_hidden_cursor)
{
	struct vt_frame f;
	frame_init(&f, 30, 4);
	const int8_t D = VT_COLOR_DEFAULT;
	put_text(&f, 0, 0, "BIU", VT_ATTR_BOLD | VT_ATTR_INVERSE | VT_ATTR_UNDERLINE, D, D);
	put_text(&f, 3, 0, "b", VT_ATTR_BOLD, D, D); /* removes attributes */
	put_text(&f, 4, 0, "it", VT_ATTR_ITALIC, D, D);
	put_text(&f, 6, 0, "bl", VT_ATTR_BLINK, D, D);
	put_text(&f, 8, 0, "plain", 0, D, D);
	/* underlined / inverse spaces are visible even without text */
	put_text(&f, 0, 1, "x", 0, D, D);
	put_text(&f, 2, 1, "  ", VT_ATTR_UNDERLINE, D, D);
	put_text(&f, 5, 1, "   ", VT_ATTR_INVERSE, D, D);
	put_text(&f, 0, 3, "red bold", VT_ATTR_BOLD, 1, D);
	f.cursor_x = 3;
	f.cursor_y = 2;
	f.cursor_visible = false;
	check_round_trip(&f, "attrs");
	vt_frame_free(&f);
}

Test(ansi_tty, palette_colours)
{
	struct vt_frame f;
	frame_init(&f, 20, 4);
	const int8_t D = VT_COLOR_DEFAULT;
	for (int i = 0; i < 16; i++) {
		char s[2] = { (char)('A' + i), 0 };
		put_text(&f, (unsigned)i, 0, s, 0, (int8_t)i, D);
		put_text(&f, (unsigned)i, 1, " ", 0, D, (int8_t)i); /* bg only */
		put_text(&f, (unsigned)i, 2, s, 0, (int8_t)(15 - i), (int8_t)i);
	}
	f.cursor_x = 0;
	f.cursor_y = 3;
	f.cursor_visible = true;
	check_round_trip(&f, "palette");
	vt_frame_free(&f);
}

Test(ansi_tty, rgb_colours_and_coloured_tails)
{
	struct vt_frame f;
	frame_init(&f, 12, 4);
	const int8_t D = VT_COLOR_DEFAULT, RGB = VT_COLOR_RGB;
	put_text(&f, 0, 0, "rgb", 0, RGB, D);
	set_rgb(cell_at(&f, 0, 0)->fg, 255, 0, 0);
	set_rgb(cell_at(&f, 1, 0)->fg, 0, 255, 0);
	set_rgb(cell_at(&f, 2, 0)->fg, 1, 2, 3);
	put_text(&f, 4, 0, "on", VT_ATTR_BOLD, RGB, RGB);
	for (unsigned x = 4; x < 6; x++) {
		set_rgb(cell_at(&f, x, 0)->fg, 250, 250, 250);
		set_rgb(cell_at(&f, x, 0)->bg, 10, 20, 30);
	}
	/* a status-bar-like row: text, then a coloured tail to the edge */
	put_text(&f, 0, 1, "status      ", 0, 0, RGB);
	for (unsigned x = 0; x < 12; x++)
		set_rgb(cell_at(&f, x, 1)->bg, 40, 80, 120);
	/* the same on the last row, blank cells (ch == 0) with a bg */
	for (unsigned x = 0; x < 12; x++) {
		struct vt_cell *c = cell_at(&f, x, 3);
		c->bg_code = RGB;
		set_rgb(c->bg, 200, 100, 0);
	}
	put_text(&f, 0, 3, "end", 0, D, RGB);
	set_rgb(cell_at(&f, 0, 3)->bg, 200, 100, 0);
	set_rgb(cell_at(&f, 1, 3)->bg, 200, 100, 0);
	set_rgb(cell_at(&f, 2, 3)->bg, 200, 100, 0);
	f.cursor_x = 11;
	f.cursor_y = 3;
	f.cursor_visible = true;
	check_round_trip(&f, "rgb");
	vt_frame_free(&f);
}
