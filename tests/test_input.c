/* test_input.c — typed text and named keys, encoded for the program's modes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vt_filter.h"
#include "vt_input.h"

static void expect_text(uint32_t modes, const char *text, const char *want)
{
	char *out;
	size_t len;
	cr_assert_eq(vt_input_text(modes, text, &out, &len), 0);
	cr_assert_eq(len, strlen(want), "length %zu, want %zu for '%s'", len, strlen(want), text);
	cr_assert(memcmp(out, want, len) == 0, "encoded '%s' differently", text);
	free(out);
}

Test(input, text_without_bracketed_paste_is_text_and_cr)
{
	expect_text(0, "hello world", "hello world\r");
	expect_text(0, "", "\r");
}

Test(input, text_with_bracketed_paste_is_one_paste_then_cr)
{
	expect_text(VT_MODE_BRACKETED_PASTE, "first line\nsecond line",
		    "\x1b[200~first line\nsecond line\x1b[201~\r");
}

Test(input, paste_end_inside_the_text_cannot_end_the_paste)
{
	expect_text(VT_MODE_BRACKETED_PASTE, "a\x1b[201~; rm -rf ~\x1b[201~b",
		    "\x1b[200~a; rm -rf ~b\x1b[201~\r");
	/* and a lone ESC is dropped as a control character */
	expect_text(VT_MODE_BRACKETED_PASTE, "x\x1b[201y", "\x1b[200~x[201y\x1b[201~\r");
}

Test(input, control_characters_are_removed_from_text)
{
	expect_text(0, "a\x03" "b\x1b[2J" "c\x7f" "d\tE\nF\xc2\x9b" "G",
		    "ab[2Jcd\tE\nFG\r");
	expect_text(0, "caf\xc3\xa9 \xe2\x94\x80", "caf\xc3\xa9 \xe2\x94\x80\r");
}

static void expect_keys(uint32_t modes, const char *spec, const char *want, size_t wantlen)
{
	char *out, err[256] = "";
	size_t len;
	cr_assert_eq(vt_input_keys(modes, spec, &out, &len, err, sizeof(err)), 0,
		     "'%s': %s", spec, err);
	cr_assert_eq(len, wantlen, "'%s': %zu bytes, want %zu", spec, len, wantlen);
	cr_assert(memcmp(out, want, len) == 0, "'%s' encoded differently", spec);
	free(out);
}
#define EXPECT_KEYS(m, s, w) expect_keys((m), (s), (w), sizeof(w) - 1)

Test(input, cursor_keys_follow_decckm)
{
	EXPECT_KEYS(0, "up down right left", "\x1b[A\x1b[B\x1b[C\x1b[D");
	EXPECT_KEYS(VT_MODE_APP_CURSOR, "up down right left", "\x1bOA\x1bOB\x1bOC\x1bOD");
	EXPECT_KEYS(0, "home end", "\x1b[H\x1b[F");
	EXPECT_KEYS(VT_MODE_APP_CURSOR, "home end", "\x1bOH\x1bOF");
	EXPECT_KEYS(0, "shift-up ctrl-right alt-left", "\x1b[1;2A\x1b[1;5C\x1b[1;3D");
}

Test(input, menu_driving_keys)
{
	EXPECT_KEYS(0, "down down enter", "\x1b[B\x1b[B\r");
	EXPECT_KEYS(0, "down*3, enter", "\x1b[B\x1b[B\x1b[B\r");
	EXPECT_KEYS(0, "esc tab shift-tab space backspace", "\x1b\t\x1b[Z \x7f");
	EXPECT_KEYS(0, "pgup pgdn insert delete", "\x1b[5~\x1b[6~\x1b[2~\x1b[3~");
	EXPECT_KEYS(0, "f1 f4 f5 f12 shift-f5", "\x1bOP\x1bOS\x1b[15~\x1b[24~\x1b[15;2~");
	EXPECT_KEYS(0, "y n 1", "yn1");
}

Test(input, control_and_alt_keys)
{
	EXPECT_KEYS(0, "ctrl-c ctrl-d ctrl-z ctrl-[", "\x03\x04\x1a\x1b");
	EXPECT_KEYS(0, "alt-b alt-enter shift-a", "\x1b" "b\x1b\rA");
	expect_keys(0, "ctrl-space", "", 1); /* NUL */
}

Test(input, bad_specs_get_clear_errors)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{"", "no keys given"},
		{"   ", "no keys given"},
		{"foo", "unknown key 'foo'"},
		{"ctrl-1", "ctrl-1 is not a control key"},
		{"down*0", "repeat count"},
		{"down*1000", "repeat count"},
		{"down*x", "repeat count"},
		{"hyper-x", "unknown key 'hyper-x'"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too long"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = NULL, err[512] = "";
		size_t len;
		cr_expect_eq(vt_input_keys(0, bad[i].spec, &out, &len, err, sizeof(err)), -EINVAL,
			     "'%s' accepted", bad[i].spec);
		cr_expect_not_null(strstr(err, bad[i].msg), "'%s': %s", bad[i].spec, err);
		cr_expect_null(out);
	}
}
