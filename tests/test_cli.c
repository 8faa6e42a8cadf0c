/* test_cli.c — the smrelay binary as a user runs it: exit codes, messages,
 * and `smrelay replay` output (screen text and JSON operations). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_support.h"

struct result {
	int status;
	char *out; /* stdout + stderr */
};

static struct result run(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>&1", SR_FIXTURES_DIR, SR_SMRELAY_BIN, args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	int st = pclose(p);
	return (struct result){.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1, .out = buf};
}

Test(cli, version_and_help)
{
	struct result r = run("--version");
	cr_assert_eq(r.status, 0);
	cr_assert(strncmp(r.out, "smrelay ", 8) == 0, "got: %s", r.out);
	free(r.out);
	r = run("--help");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(r.out, "replay"));
	free(r.out);
	r = run("replay --help");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(r.out, "--timing"));
	free(r.out);
}

Test(cli, usage_errors_exit_2_with_a_message)
{
	static const struct {
		const char *args, *msg;
	} cases[] = {
		{"", "usage"},
		{"frobnicate", "unknown command 'frobnicate'"},
		{"replay", "no FILE given"},
		{"replay --cols 1 vim-edit.raw", "--cols needs a number from 2 to 4096"},
		{"replay --rows 0 vim-edit.raw", "--rows needs a number from 1 to 4096"},
		{"replay --cols abc vim-edit.raw", "--cols needs a number"},
		{"replay --offset -5 vim-edit.raw", "--offset needs a number"},
		{"replay --bogus vim-edit.raw", "unknown option '--bogus'"},
		{"replay a.raw b.raw", "more than one FILE"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run(cases[i].args);
		cr_expect_eq(r.status, 2, "'%s' exited %d", cases[i].args, r.status);
		cr_expect_not_null(strstr(r.out, cases[i].msg), "'%s' said: %s", cases[i].args, r.out);
		free(r.out);
	}
}

Test(cli, runtime_errors_exit_1_with_a_message)
{
	struct result r = run("replay /nonexistent/stream.raw");
	cr_expect_eq(r.status, 1);
	cr_expect_not_null(strstr(r.out, "cannot read /nonexistent/stream.raw"), "%s", r.out);
	free(r.out);
	FILE *f = fopen("/tmp/smrelay-test-bad.timing", "w");
	cr_assert_not_null(f);
	fputs("0.5 100\nnot a timing line\n", f);
	fclose(f);
	r = run("replay --timing /tmp/smrelay-test-bad.timing vim-edit.raw");
	cr_expect_eq(r.status, 1);
	cr_expect_not_null(strstr(r.out, "smrelay-test-bad.timing:2:"), "%s", r.out);
	free(r.out);
	remove("/tmp/smrelay-test-bad.timing");
}

Test(cli, replay_screen_matches_the_tmux_reference)
{
	struct result r = run("replay --cols 100 --rows 30 --offset 2833 --screen claude-network-request.raw");
	cr_assert_eq(r.status, 0);
	char *want = ts_read_file("claude-network-request.at-2833.txt", NULL);
	cr_assert_not_null(want);
	cr_assert_str_eq(r.out, want);
	free(want);
	free(r.out);
}

Test(cli, replay_prints_one_json_operation_per_line)
{
	struct result r = run("replay --cols 100 --rows 30 --timing claude-network-request.timing "
			      "claude-network-request.raw");
	cr_assert_eq(r.status, 0, "%s", r.out);
	int markers = 0, lives = 0, ends = 0, lines = 0;
	double last_t = -1;
	for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
		lines++;
		cJSON *o = cJSON_Parse(line);
		cr_assert_not_null(o, "not JSON: %s", line);
		const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(o, "op"));
		double t = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "t"));
		cr_assert_not_null(op);
		cr_assert_geq(t, last_t, "time went backwards at: %s", line);
		last_t = t;
		if (!strcmp(op, "marker")) {
			markers++;
			cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "value")), "pypi.org");
			cr_assert(cJSON_IsArray(cJSON_GetObjectItem(o, "context")));
		} else if (!strcmp(op, "live")) {
			lives++;
			cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, "text")));
		} else if (!strcmp(op, "end")) {
			ends++;
		}
		cJSON_Delete(o);
	}
	cr_assert_eq(markers, 1);
	cr_assert_gt(lives, 2);
	cr_assert_eq(ends, 1);
	cr_assert_gt(lines, 4);
	free(r.out);
}
