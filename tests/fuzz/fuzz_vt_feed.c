/* fuzz_vt_feed.c — libFuzzer target for vt_screen_feed (not built by CMake).
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I vt \
 *     vt/vt_screen.c vt/vt_filter.c vt/vt_frame.c vt/vt_compose.c tests/fuzz/fuzz_vt_feed.c \
 *     $(pkg-config --cflags --libs libtsm libpcre2-8) -o fuzz_vt_feed
 *   mkdir -p corpus && ./fuzz_vt_feed -max_total_time=60 -max_len=4096 corpus \
 *     tests/fixtures/tty-extra
 *
 * (the .raw streams in tests/fixtures/tty-extra make a good seed corpus: the first bytes of
 * an input choose the size, so they replay shifted, which is fine.)
 *
 * Input layout: byte 0 → columns, byte 1 → rows, byte 2 → scrollback lines,
 * then records: a length byte L < 0xf0 followed by L bytes to feed;
 * 0xf0-0xf7 + 2 bytes: resize; 0xf8-0xff: snapshot and check. A truncated
 * record feeds what is left. The frame invariants are those of
 * tests/test_fuzz.c; a violation aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../utf8_valid.h"
#include "vt_screen.h"

/* 1 column makes libtsm 4.0.2 overflow its heap (insert mode + wide char);
 * set to 1 to check a fix. */
#ifndef FUZZ_MIN_COLS
#define FUZZ_MIN_COLS 2
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                       \
			abort();                                           \
		}                                                          \
	} while (0)

static void check(struct vt_screen *s, unsigned sb_max)
{
	struct vt_frame f;
	CHECK(vt_screen_snapshot(s, &f) == 0);
	CHECK(f.cols == vt_screen_cols(s) && f.rows == vt_screen_rows(s));
	CHECK(f.cursor_x < f.cols && f.cursor_y < f.rows);
	char *buf = malloc(vt_frame_row_cap(&f));
	CHECK(buf);
	for (unsigned y = 0; y < f.rows; y++) {
		CHECK(f.row_end[y] <= f.cols);
		int n = vt_frame_row_text(&f, y, buf, vt_frame_row_cap(&f));
		CHECK(n >= 0 && (size_t)n <= (size_t)f.cols * 4);
		CHECK(strlen(buf) == (size_t)n);
		CHECK(utf8_valid(buf, (size_t)n));
	}
	free(buf);
	char *text = NULL;
	size_t len = 0;
	CHECK(vt_frame_text(&f, &text, &len) == 0);
	CHECK(utf8_valid(text, len));
	free(text);
	for (size_t i = 0; i < f.nscrolled; i++)
		CHECK(f.scrolled[i] && utf8_valid(f.scrolled[i], strlen(f.scrolled[i])));
	CHECK(vt_screen_history_len(s) <= sb_max);
	for (size_t i = 0; i < vt_screen_history_len(s); i++) {
		const char *l = vt_screen_history_line(s, i);
		CHECK(l && utf8_valid(l, strlen(l)));
	}
	vt_frame_free(&f);
}

static void ignore_reply(void *d, const char *b, size_t n)
{
	(void)d;
	(void)b;
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned cols = FUZZ_MIN_COLS + data[0] % (301 - FUZZ_MIN_COLS);
	unsigned rows = 1 + data[1] % 100;
	unsigned sb = 1 + data[2] % 200;
	struct vt_screen_opts o = {.cols = cols, .rows = rows, .scrollback_lines = sb,
				   .reply = ignore_reply};
	struct vt_screen *s;
	if (vt_screen_new(&s, &o) != 0)
		return 0;
	size_t i = 3;
	while (i < size) {
		uint8_t op = data[i++];
		if (op < 0xf0) {
			size_t n = op;
			if (n > size - i)
				n = size - i;
			/* an exact-size copy: ASan catches reads past a read */
			char *copy = malloc(n ? n : 1);
			CHECK(copy);
			memcpy(copy, data + i, n);
			vt_screen_feed(s, copy, n);
			free(copy);
			i += n;
		} else if (op < 0xf8) {
			if (size - i < 2)
				break;
			unsigned c = FUZZ_MIN_COLS + data[i] % (301 - FUZZ_MIN_COLS);
			unsigned r = 1 + data[i + 1] % 100;
			i += 2;
			CHECK(vt_screen_resize(s, c, r) == 0);
		} else {
			check(s, sb);
		}
	}
	check(s, sb);
	vt_screen_free(s);
	return 0;
}
