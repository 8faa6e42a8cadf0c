/* test_support.h — helpers shared by the criterion tests. */
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H

#include <stddef.h>

/* Reads a whole file (fixture path relative to SR_FIXTURES_DIR when not
 * absolute). Returns malloc'ed bytes (NUL-terminated) or NULL. */
char *ts_read_file(const char *name, size_t *len);

/* Fixture index entry from tests/fixtures/tty/index.json. */
struct ts_fixture {
	char name[64];
	unsigned cols, rows;
	size_t offsets[16];
	size_t noffsets;
};

/* Loads index.json; returns the number of fixtures (<= max) or -1. */
int ts_fixtures(struct ts_fixture *out, int max);

/* A resize applied once `at` bytes have been fed. */
struct ts_resize {
	size_t at;
	unsigned cols, rows;
};

/* The vt screen text (vt_frame_text) after feeding raw[0, off) in reads of
 * at most `chunk` bytes to a cols x rows screen, applying the resizes (in
 * order) on the way. Asserts on failure; the caller frees the text. */
char *ts_screen_text(const char *raw, size_t off, unsigned cols, unsigned rows,
		     size_t chunk, const struct ts_resize *rz, size_t nrz);

#endif
