/* test_mm_cmd.c — chat command parsing and post rendering (pure). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mm_cmd.h"
#include "mm_render.h"

static void parse(const char *msg, struct mm_cmd *c)
{
	cr_assert_eq(mm_cmd_parse("@claude", msg, c), 0, "%s", msg);
}

Test(mm_cmd, not_for_the_bot)
{
	const char *none[] = {"hello", "hey @claude start x", "@claudebot start x", "", "   ",
			      "@clau start", NULL};
	for (size_t i = 0; none[i]; i++) {
		struct mm_cmd c;
		parse(none[i], &c);
		cr_assert_eq(c.kind, MM_CMD_NONE, "%s", none[i]);
		mm_cmd_free(&c);
	}
}

Test(mm_cmd, commands)
{
	struct mm_cmd c;
	parse("  @Claude   start acme/api@dev   --worktree=fix-1 ", &c);
	cr_assert_eq(c.kind, MM_CMD_START);
	cr_assert_eq(c.argc, 2);
	cr_assert_str_eq(c.argv[0], "acme/api@dev");
	cr_assert_str_eq(c.argv[1], "--worktree=fix-1");
	mm_cmd_free(&c);
	cr_assert_eq(c.argc, 0);

	parse("@claude stop", &c);
	cr_assert_eq(c.kind, MM_CMD_STOP);
	mm_cmd_free(&c);
	parse("@claude STATUS", &c);
	cr_assert_eq(c.kind, MM_CMD_STATUS);
	mm_cmd_free(&c);
	parse("@claude list", &c);
	cr_assert_eq(c.kind, MM_CMD_LIST);
	mm_cmd_free(&c);
	parse("@claude", &c);
	cr_assert_eq(c.kind, MM_CMD_HELP);
	mm_cmd_free(&c);
	parse("@claude help", &c);
	cr_assert_eq(c.kind, MM_CMD_HELP);
	mm_cmd_free(&c);
	parse("@claude keys down*3 enter  ", &c);
	cr_assert_eq(c.kind, MM_CMD_KEYS);
	cr_assert_str_eq(c.arg, "down*3 enter");
	mm_cmd_free(&c);
	parse("@claude resize 120x40", &c);
	cr_assert_eq(c.kind, MM_CMD_RESIZE);
	cr_assert_eq(c.cols, 120);
	cr_assert_eq(c.rows, 40);
	mm_cmd_free(&c);
	parse("@claude invite @bob.smith", &c);
	cr_assert_eq(c.kind, MM_CMD_INVITE);
	cr_assert_str_eq(c.arg, "bob.smith");
	mm_cmd_free(&c);
	parse("@claude\tstart\ndemo", &c);
	cr_assert_eq(c.kind, MM_CMD_START);
	cr_assert_str_eq(c.argv[0], "demo");
	mm_cmd_free(&c);
}

Test(mm_cmd, malformed_gets_a_helpful_message)
{
	struct {
		const char *msg, *want;
	} t[] = {
		{"@claude start", "start what?"},
		{"@claude start a b c d e f g h i", "too many words"},
		{"@claude stop now", "takes no arguments"},
		{"@claude keys", "keys needs a spec"},
		{"@claude resize big", "resize needs COLSxROWS"},
		{"@claude resize 5x5", "resize needs COLSxROWS"},
		{"@claude resize 120x40 extra", "resize needs COLSxROWS"},
		{"@claude invite", "invite one user"},
		{"@claude invite @a @b", "invite one user"},
		{"@claude invite @a;b", "is not a user name"},
		{"@claude frobnicate", "unknown command 'frobnicate'. Try '@claude help'."},
		{"@claude \x1b[31mx", "unknown command '\\x1b[31mx'"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mm_cmd c;
		parse(t[i].msg, &c);
		cr_assert_eq(c.kind, MM_CMD_BAD, "%s", t[i].msg);
		cr_assert_not_null(strstr(c.err, t[i].want), "%s -> %s", t[i].msg, c.err);
		for (const char *p = c.err; *p; p++)
			cr_assert_geq((unsigned char)*p, 0x20, "control byte in '%s'", c.err);
		mm_cmd_free(&c);
	}
	char *h = mm_cmd_help("@relay");
	cr_assert_not_null(strstr(h, "`@relay start org/repo[@branch]`"));
	free(h);
}

Test(mm_render, code_fence_outgrows_backticks)
{
	char *out = NULL;
	const char *l1[] = {"plain", "  indented"};
	cr_assert_eq(mm_render_code(l1, 2, &out), 0);
	cr_assert_str_eq(out, "```\nplain\n  indented\n```");
	free(out);
	const char *l2[] = {"```evil", "x ````` y"};
	cr_assert_eq(mm_render_code(l2, 2, &out), 0);
	cr_assert_str_eq(out, "``````\n```evil\nx ````` y\n``````");
	free(out);
	cr_assert_eq(mm_render_code(NULL, 0, &out), 0);
	cr_assert_str_eq(out, "```\n\n```");
	free(out);
}

Test(mm_render, inline_is_inert)
{
	char *out = NULL;
	cr_assert_eq(mm_render_inline("@channel *bold* [x](http://e) `c` #tag\nnext", &out), 0);
	cr_assert_str_eq(out, "@\xe2\x80\x8b" "channel \\*bold\\* \\[x\\]\\(http\\://e\\) \\`c\\` \\#tag next");
	free(out);
}

Test(mm_render, screen_fits_the_cap)
{
	char *big = malloc(200 * 101 + 1);
	size_t k = 0;
	for (int i = 0; i < 200; i++) {
		memset(big + k, 'a' + i % 26, 100);
		k += 100;
		big[k++] = '\n';
	}
	big[k] = '\0';
	char *out = NULL;
	cr_assert_eq(mm_render_screen(big, 5000, &out), 0);
	cr_assert_leq(mm_runes(out), 5000);
	cr_assert_not_null(strstr(out, " lines above\n"), "%.80s", out);
	/* the newest line is kept */
	char last[101];
	memset(last, 'a' + 199 % 26, 100);
	last[100] = '\0';
	cr_assert_not_null(strstr(out, last));
	free(out);
	cr_assert_eq(mm_render_screen("a\nb\n", 5000, &out), 0);
	cr_assert_str_eq(out, "```\na\nb\n```");
	free(out);
	free(big);
	cr_assert_eq(mm_runes("h\xc3\xa9\xe2\x9d\xaf"), 3);
}
