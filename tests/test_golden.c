/* test_golden.c — vt screens must equal tmux's screens (tty-golden files)
 * after feeding each recorded stream up to each golden offset, whatever the
 * read boundaries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "vt_screen.h"

static void check_all(size_t chunk)
{
	struct ts_fixture fx[32];
	int n = ts_fixtures(fx, 32);
	cr_assert_gt(n, 0, "fixture index not found in %s", SR_FIXTURES_DIR);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		char name[512];
		snprintf(name, sizeof(name), "%.63s.raw", fx[i].name);
		size_t rawlen;
		char *raw = ts_read_file(name, &rawlen);
		cr_assert_not_null(raw, "missing %s", name);
		for (size_t k = 0; k < fx[i].noffsets; k++) {
			size_t off = fx[i].offsets[k];
			cr_assert_leq(off, rawlen);
			snprintf(name, sizeof(name), "%.63s.at-%zu.txt", fx[i].name, off);
			char *want = ts_read_file(name, NULL);
			cr_assert_not_null(want, "missing %s", name);
			char *got = ts_screen_text(raw, off, fx[i].cols, fx[i].rows, chunk, NULL, 0);
			cr_expect_str_eq(got, want, "%s (chunk %zu):\n--- got\n%s--- want\n%s",
					 name, chunk, got, want);
			checked++;
			free(got);
			free(want);
		}
		free(raw);
	}
	cr_assert_geq(checked, 30);
}

Test(golden, every_fixture_offset_whole_stream) { check_all(1u << 20); }
Test(golden, every_fixture_offset_split_reads_1_byte) { check_all(1); }
Test(golden, every_fixture_offset_split_reads_7_bytes) { check_all(7); }
