/* test_golden_extra.c — hand-made streams (tests/fixtures/tty-extra/, made
 * by tests/tools/make-tty-extra.py) replayed through vt_screen, with window
 * resizes, compared with the screens tmux (the reference terminal) shows.
 *
 * index.json: {"NAME": {"cols", "rows", "golden_offsets": [...],
 *   "resizes": [[offset, cols, rows], ...]       (optional)
 *   "known_differences": {"offset": "reason"}}}  (optional)
 * A resize at offset X happens once X bytes were fed, before the screen at
 * golden offset X (if any) is taken. A screen listed in known_differences
 * must still DIFFER from tmux (so that a fix in libtsm or vt/ is noticed
 * and the entry removed); its reason is logged. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "vt_screen.h"

#define EXTRA_DIR SR_FIXTURES_DIR "/../tty-extra"

static char *extra_file(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", EXTRA_DIR, name);
	return ts_read_file(path, len);
}

static cJSON *load_index(void)
{
	char *json = extra_file("index.json", NULL);
	cr_assert_not_null(json, "missing %s/index.json", EXTRA_DIR);
	cJSON *root = cJSON_Parse(json);
	free(json);
	cr_assert_not_null(root, "bad %s/index.json", EXTRA_DIR);
	return root;
}

static unsigned num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(obj, key);
	cr_assert(cJSON_IsNumber(v), "index.json: \"%s\" missing", key);
	return (unsigned)v->valuedouble;
}

/* The screen text after `off` bytes, applying the resizes up to `off`. */
static char *screen_at(const cJSON *fx, const char *raw, size_t off, size_t chunk)
{
	struct ts_resize rz[16];
	size_t n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(fx, "resizes"))
	{
		cr_assert_lt(n, 16, "too many resizes");
		rz[n].at = (size_t)cJSON_GetArrayItem(it, 0)->valuedouble;
		rz[n].cols = (unsigned)cJSON_GetArrayItem(it, 1)->valuedouble;
		rz[n].rows = (unsigned)cJSON_GetArrayItem(it, 2)->valuedouble;
		n++;
	}
	return ts_screen_text(raw, off, num(fx, "cols"), num(fx, "rows"), chunk, rz, n);
}

static void check_all(size_t chunk)
{
	bool whole = chunk >= 4096; /* every stream is smaller */
	cJSON *root = load_index();
	int checked = 0, known = 0;
	const cJSON *fx;
	cJSON_ArrayForEach(fx, root)
	{
		char name[512];
		snprintf(name, sizeof(name), "%.100s.raw", fx->string);
		size_t rawlen;
		char *raw = extra_file(name, &rawlen);
		cr_assert_not_null(raw, "missing %s", name);
		cr_expect_lt(rawlen, 4096, "%s: keep the streams small", name);
		const cJSON *kd = cJSON_GetObjectItem(fx, "known_differences");
		const cJSON *offv;
		cJSON_ArrayForEach(offv, cJSON_GetObjectItem(fx, "golden_offsets"))
		{
			size_t off = (size_t)offv->valuedouble;
			cr_assert_leq(off, rawlen);
			snprintf(name, sizeof(name), "%.100s.at-%zu.txt", fx->string, off);
			char *want = extra_file(name, NULL);
			cr_assert_not_null(want, "missing %s", name);
			char key[32];
			snprintf(key, sizeof(key), "%zu", off);
			const cJSON *why = cJSON_GetObjectItem(kd, key);
			if (cJSON_IsString(why) && !whole) {
				/* Known differences are checked with whole reads only:
				 * split reads may hit other defects there (REP after a
				 * cut UTF-8 char was one: filter/rep_after_utf8_char_cut_
				 * between_reads) and "still differs" would be luck. */
				free(want);
				continue;
			}
			char *got = screen_at(fx, raw, off, chunk);
			if (cJSON_IsString(why)) {
				/* a known difference must still be one */
				cr_expect_str_neq(got, want,
						  "%s now matches tmux: remove its known_differences "
						  "entry (\"%s\")", name, why->valuestring);
				cr_log_info("%s: known difference: %s", name, why->valuestring);
				known++;
			} else {
				cr_expect_str_eq(got, want,
						 "%s (reads of %zu bytes):\n--- got\n%s--- want (tmux)\n%s",
						 name, chunk, got, want);
			}
			checked++;
			free(got);
			free(want);
		}
		free(raw);
	}
	cJSON_Delete(root);
	cr_assert_geq(checked, 25);
	if (whole)
		cr_expect_gt(known, 0);
}

Test(golden_extra, every_stream_whole) { check_all(1u << 20); }
Test(golden_extra, every_stream_split_reads_1_byte) { check_all(1); }
Test(golden_extra, every_stream_split_reads_5_bytes) { check_all(5); }
