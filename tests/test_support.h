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

/* A program run with stdin fed and stdout/stderr captured. */
struct ts_run {
	int status; /* exit status; 128+N when killed by signal N; -1 on a hang */
	char *out, *err; /* NUL-terminated */
	size_t outlen, errlen;
};

/* Runs argv (argv[0] a path) in dir (NULL: here), writing in[0..inlen) to
 * its stdin and then closing it. Output is collected until the program
 * exits (a daemon it leaves behind cannot hold the test up); a run longer
 * than 20 s is killed (status -1). Free with ts_run_free. */
struct ts_run ts_run_argv(const char *const *argv, const char *dir, const char *in, size_t inlen);
void ts_run_free(struct ts_run *r);

/* Appends p[0..n) to a malloc'ed, NUL-terminated buffer (asserts on OOM). */
void ts_append(char **buf, size_t *len, const char *p, size_t n);

#endif
