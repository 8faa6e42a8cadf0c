/* test_envwrap.c — sr_envwrap proven by execution: the wrapped, quoted
 * command line runs under /bin/sh -c with the payload on its stdin, the
 * way an SSH exec channel would run it; the wrapper script itself also runs
 * under dash and bash directly. Hostile values must reach the inner
 * command byte for byte, run nothing (each run happens in an empty
 * directory that must stay empty), and never appear in the command line or
 * in error messages. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_envwrap.h"
#include "test_support.h"

#define GUARD_S 20.0 /* only guards hangs */

static char DIR_[] = "/tmp/sr_envwrap_XXXXXX";
static int HAVE_DIR;

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(DIR_));
	HAVE_DIR = 1;
}

static void teardown(void)
{
	if (HAVE_DIR) {
		struct ts_run r = ts_run_argv((const char *const[]){"/bin/rm", "-rf", "--", DIR_, NULL}, NULL,
					NULL, 0);
		ts_run_free(&r);
		HAVE_DIR = 0;
	}
}

TestSuite(envwrap, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void build(const char *const *inner_words, struct sr_argv *wrapped)
{
	struct sr_argv inner = {0};
	cr_assert_eq(sr_argv_push_list(&inner, inner_words), 0);
	cr_assert_eq(sr_envwrap_argv(&inner, wrapped), 0);
	sr_argv_free(&inner);
}

static char *payload_of(const struct sr_env *env, size_t *len)
{
	char *p = NULL, err[256] = "";
	cr_assert_eq(sr_envwrap_payload(env, &p, len, err, sizeof(err)), 0, "%s", err);
	return p;
}

/* The wrapped argv as an exec channel runs it: `/bin/sh -c LINE`. */
static struct ts_run run_line(const struct sr_argv *wrapped, const char *in, size_t inlen)
{
	char *line = NULL, err[256] = "";
	cr_assert_eq(sr_argv_quote(wrapped, &line, err, sizeof(err)), 0, "%s", err);
	struct ts_run r = ts_run_argv((const char *const[]){"/bin/sh", "-c", line, NULL}, DIR_, in, inlen);
	free(line);
	return r;
}

/* The wrapped argv executed directly with its interpreter replaced by
 * shell (the script must work in dash and bash, whichever is /bin/sh). */
static struct ts_run run_with_shell(const struct sr_argv *wrapped, const char *shell, const char *in,
				 size_t inlen)
{
	const char **v = calloc(wrapped->n + 1, sizeof(*v));
	cr_assert_not_null(v);
	for (size_t i = 0; i < wrapped->n; i++)
		v[i] = wrapped->v[i];
	v[0] = shell;
	struct ts_run r = ts_run_argv(v, DIR_, in, inlen);
	free(v);
	return r;
}

static const char *const SHELLS[] = {"/bin/sh", "/bin/dash", "/bin/bash", NULL};

/* ---- payload ---- */

Test(envwrap, payload_format)
{
	size_t len = 99;
	char *p = payload_of((const struct sr_env[]){{"A", "1"}, {"_b2", ""}, {"C", "x=y z"}, {NULL, NULL}},
			     &len);
	const char want[] = "A=1\n_b2=\nC=x=y z\n\n";
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(p, want, len), 0, "%.*s", (int)len, p);
	sr_envwrap_payload_free(p, len);

	p = payload_of(NULL, &len);
	cr_assert_eq(len, 1);
	cr_assert_eq(p[0], '\n');
	sr_envwrap_payload_free(p, len);

	p = payload_of((const struct sr_env[]){{NULL, NULL}}, &len);
	cr_assert_eq(len, 1);
	cr_assert_eq(p[0], '\n');
	sr_envwrap_payload_free(p, len);
	sr_envwrap_payload_free(NULL, 0);
}

Test(envwrap, payload_rejects_without_leaking_values)
{
	static const char secret[] = "s3cr3t-VALUE";
	struct {
		const char *name, *value, *in_err;
	} bad[] = {
		{"1A", secret, "'1A'"},
		{"A-B", secret, "'A-B'"},
		{"A B", secret, "'A B'"},
		{"A=B", secret, "'A=B'"},
		{"", secret, "''"},
		{"A\nB", secret, "'A\\x0aB'"},
		{"\xc3\xa9", secret, "'\\xc3\\xa9'"},
		{"GOOD", "s3cr3t-VALUE\nmore", "GOOD"},
		{"GOOD", "s3cr3t-VALUE\r", "GOOD"},
		{"GOOD", "\n", "GOOD"},
		{"GOOD", NULL, "GOOD"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct sr_env env[] = {{"OK_FIRST", secret}, {bad[i].name, bad[i].value}, {NULL, NULL}};
		char *p = (char *)1, err[256] = "";
		size_t len = 7;
		cr_assert_eq(sr_envwrap_payload(env, &p, &len, err, sizeof(err)), -EINVAL, "case %zu", i);
		cr_assert_null(p, "case %zu", i);
		cr_assert_eq(len, 0, "case %zu", i);
		cr_assert_not_null(strstr(err, bad[i].in_err), "case %zu: %s", i, err);
		cr_assert_null(strstr(err, "s3cr3t"), "case %zu leaks the value: %s", i, err);
		for (const char *c = err; *c; c++)
			cr_assert((unsigned char)*c >= 0x20 && *c != 0x7f, "case %zu: control byte in %s", i, err);
	}
	/* NULL outputs */
	size_t len;
	char *p;
	cr_assert_eq(sr_envwrap_payload(NULL, NULL, &len, NULL, 0), -EINVAL);
	cr_assert_eq(sr_envwrap_payload(NULL, &p, NULL, NULL, 0), -EINVAL);
	cr_assert_null(p);

	cr_assert(sr_envwrap_name_valid("_"));
	cr_assert(sr_envwrap_name_valid("ANTHROPIC_API_KEY"));
	cr_assert(sr_envwrap_name_valid("a9"));
	cr_assert_not(sr_envwrap_name_valid("9a"));
	cr_assert_not(sr_envwrap_name_valid(NULL));
	cr_assert_not(sr_envwrap_name_valid(""));
}

/* ---- argv ---- */

Test(envwrap, argv_shape)
{
	struct sr_argv w = {0};
	build((const char *const[]){"printenv", "A", NULL}, &w);
	cr_assert_eq(w.n, 6);
	cr_assert_str_eq(w.v[0], "/bin/sh");
	cr_assert_str_eq(w.v[1], "-c");
	/* a constant: no data is formatted into the script */
	cr_assert_not_null(strstr(w.v[2], "read -r"));
	cr_assert_not_null(strstr(w.v[2], "exec \"$@\""));
	cr_assert_str_eq(w.v[3], "smrelay-env");
	cr_assert_str_eq(w.v[4], "printenv");
	cr_assert_str_eq(w.v[5], "A");
	cr_assert_null(w.v[6]);
	struct sr_argv w2 = {0};
	build((const char *const[]){"other", NULL}, &w2);
	cr_assert_str_eq(w.v[2], w2.v[2]);
	sr_argv_free(&w);
	sr_argv_free(&w2);

	struct sr_argv empty = {0}, out = {(char **)1, 3, 4};
	cr_assert_eq(sr_envwrap_argv(&empty, &out), -EINVAL);
	cr_assert_null(out.v);
	cr_assert_eq(out.n, 0);
	cr_assert_eq(sr_envwrap_argv(NULL, &out), -EINVAL);
	cr_assert_eq(sr_envwrap_argv(&empty, NULL), -EINVAL);
}

/* ---- execution ---- */

static const char *const HOSTILE[] = {
	"x y $(touch pwned1) `touch pwned2`; touch pwned3 && echo z",
	"'\"\\ \\n \\\\",
	"",
	"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x94\x91",
	"a;b|c&d>e<f*?[x]{y}~#!",
	"  lead and trail  \t",
	"=eq=uals=",
	"$HOME ${PATH} $1 $@ $$",
	"-n",
	"\\",
};
#define NHOSTILE (sizeof(HOSTILE) / sizeof(HOSTILE[0]))

Test(envwrap, hostile_values_reach_inner_literally)
{
	/* V0..V9 = HOSTILE[i]; printenv prints each value on its own line
	 * (values have no newlines), in the order asked. */
	struct sr_env env[NHOSTILE + 1];
	char names[NHOSTILE][8];
	const char *inner[NHOSTILE + 2] = {"/usr/bin/printenv"};
	char want[4096] = "";
	for (size_t i = 0; i < NHOSTILE; i++) {
		snprintf(names[i], sizeof(names[i]), "V%zu", i);
		env[i] = (struct sr_env){names[i], HOSTILE[i]};
		inner[i + 1] = names[i];
		strcat(want, HOSTILE[i]);
		strcat(want, "\n");
	}
	env[NHOSTILE] = (struct sr_env){NULL, NULL};
	inner[NHOSTILE + 1] = NULL;
	if (access(inner[0], X_OK) != 0)
		inner[0] = "/bin/printenv";

	size_t len;
	char *p = payload_of(env, &len);
	struct sr_argv w = {0};
	build(inner, &w);

	struct ts_run r = run_line(&w, p, len);
	cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
	cr_assert_str_eq(r.out, want);
	cr_assert_eq(count_entries(DIR_), 0, "something ran");
	ts_run_free(&r);

	int tried = 0;
	for (size_t s = 0; SHELLS[s]; s++) {
		if (access(SHELLS[s], X_OK) != 0)
			continue;
		tried++;
		r = run_with_shell(&w, SHELLS[s], p, len);
		cr_assert_eq(r.status, 0, "%s: status %d: %s", SHELLS[s], r.status, r.err);
		cr_assert_str_eq(r.out, want, "%s", SHELLS[s]);
		cr_assert_eq(count_entries(DIR_), 0, "%s: something ran", SHELLS[s]);
		ts_run_free(&r);
	}
	cr_assert_geq(tried, 2);
	sr_argv_free(&w);
	sr_envwrap_payload_free(p, len);
}

Test(envwrap, inner_shell_sees_exported_values)
{
	/* An inner `sh -c 'printf ...'` built as argv: the values come from
	 * the environment, so the inner script can stay constant too. */
	const struct sr_env env[] = {
		{"A", HOSTILE[0]}, {"B", HOSTILE[1]}, {"EMPTY", ""}, {NULL, NULL},
	};
	size_t len;
	char *p = payload_of(env, &len);
	struct sr_argv w = {0};
	build((const char *const[]){"sh", "-c",
				    "printf '[%s][%s][%s][%s]' \"$A\" \"$B\" \"${EMPTY-unset}\" \"${NOPE-unset}\"",
				    NULL},
	      &w);
	char want[512];
	snprintf(want, sizeof(want), "[%s][%s][][unset]", HOSTILE[0], HOSTILE[1]);
	for (size_t s = 0; SHELLS[s]; s++) {
		if (access(SHELLS[s], X_OK) != 0)
			continue;
		struct ts_run r = run_with_shell(&w, SHELLS[s], p, len);
		cr_assert_eq(r.status, 0, "%s: %d %s", SHELLS[s], r.status, r.err);
		cr_assert_str_eq(r.out, want, "%s", SHELLS[s]);
		ts_run_free(&r);
	}
	cr_assert_eq(count_entries(DIR_), 0);
	sr_argv_free(&w);
	sr_envwrap_payload_free(p, len);
}

Test(envwrap, secret_not_in_command_line)
{
	static const char secret[] = "sk-ant-api03-SECRET-do-not-log";
	const struct sr_env env[] = {{"ANTHROPIC_API_KEY", secret}, {NULL, NULL}};
	size_t len;
	char *p = payload_of(env, &len);
	/* the payload (not NUL-terminated) does carry it */
	static const char want[] = "ANTHROPIC_API_KEY=sk-ant-api03-SECRET-do-not-log\n\n";
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(p, want, len), 0);
	struct sr_argv w = {0};
	build((const char *const[]){"printenv", "ANTHROPIC_API_KEY", NULL}, &w);
	char *line = NULL, err[128];
	cr_assert_eq(sr_argv_quote(&w, &line, err, sizeof(err)), 0);
	cr_assert_null(strstr(line, "SECRET"), "%s", line);
	for (size_t i = 0; i < w.n; i++)
		cr_assert_null(strstr(w.v[i], "SECRET"));
	free(line);

	struct ts_run r = run_line(&w, p, len);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "sk-ant-api03-SECRET-do-not-log\n");
	ts_run_free(&r);
	sr_argv_free(&w);
	sr_envwrap_payload_free(p, len);
}

Test(envwrap, no_variables_and_stdin_left_for_inner)
{
	size_t len;
	char *p = payload_of(NULL, &len);
	struct sr_argv w = {0};
	build((const char *const[]){"sh", "-c", "printf '%s|' \"${A-unset}\"; cat", NULL}, &w);
	/* What follows the empty line belongs to the inner command. */
	char in[64];
	memcpy(in, p, len);
	memcpy(in + len, "rest of stdin\n", 14);
	for (size_t s = 0; SHELLS[s]; s++) {
		if (access(SHELLS[s], X_OK) != 0)
			continue;
		struct ts_run r = run_with_shell(&w, SHELLS[s], in, len + 14);
		cr_assert_eq(r.status, 0, "%s: %s", SHELLS[s], r.err);
		cr_assert_str_eq(r.out, "unset|rest of stdin\n", "%s", SHELLS[s]);
		ts_run_free(&r);
	}
	struct ts_run r = run_line(&w, p, len);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "unset|");
	ts_run_free(&r);
	sr_argv_free(&w);
	sr_envwrap_payload_free(p, len);
}

Test(envwrap, large_value)
{
	/* More than a pipe buffer (64 KiB) and less than Linux's limit on
	 * one environment string (128 KiB): the script reads it whole. */
	size_t n = 100000;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = "ab'\"$ `\\;"[i % 9];
	big[n] = '\0';
	const struct sr_env env[] = {{"BIG", big}, {NULL, NULL}};
	size_t len;
	char *p = payload_of(env, &len);
	struct sr_argv w = {0};
	build((const char *const[]){"sh", "-c", "printf %s \"$BIG\"", NULL}, &w);
	struct ts_run r = run_line(&w, p, len);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.outlen, n);
	cr_assert_eq(memcmp(r.out, big, n), 0);
	ts_run_free(&r);
	sr_argv_free(&w);
	sr_envwrap_payload_free(p, len);
	free(big);
}

Test(envwrap, exit_status_and_malformed_payloads)
{
	struct sr_argv w = {0};
	build((const char *const[]){"sh", "-c", "exit 42", NULL}, &w);
	struct ts_run r = run_line(&w, "\n", 1);
	cr_assert_eq(r.status, 42);
	ts_run_free(&r);
	sr_argv_free(&w);

	build((const char *const[]){"smrelay-no-such-command", NULL}, &w);
	r = run_line(&w, "\n", 1);
	cr_assert_eq(r.status, 127, "%d %s", r.status, r.err);
	ts_run_free(&r);
	sr_argv_free(&w);

	/* Cut short (EOF before the empty line), or a line that is not
	 * NAME=value: the inner command must not run, in any shell. */
	build((const char *const[]){"touch", "ran", NULL}, &w);
	struct {
		const char *in;
		const char *what;
	} bad[] = {
		{"", "empty stdin"},
		{"A=1\n", "no empty line"},
		{"A=1", "no newline"},
		{"1A=x\n\n", "bad name"},
		{"-f=x\n\n", "option-like name"},
		{"NOEQUALS\n\n", "no '='"},
		{"=x\n\n", "empty name"},
		{"A B=x\n\n", "space in name"},
	};
	for (size_t s = 0; SHELLS[s]; s++) {
		if (access(SHELLS[s], X_OK) != 0)
			continue;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			r = run_with_shell(&w, SHELLS[s], bad[i].in, strlen(bad[i].in));
			cr_assert_eq(r.status, 125, "%s, %s: status %d (%s)", SHELLS[s], bad[i].what,
				     r.status, r.err);
			cr_assert_eq(count_entries(DIR_), 0, "%s, %s: the inner command ran", SHELLS[s],
				     bad[i].what);
			/* bash's own "not a valid identifier" would echo the line */
			cr_assert_null(strstr(r.err, "=x"), "%s: %s", SHELLS[s], r.err);
			ts_run_free(&r);
		}
	}
	/* and the good case does run it */
	r = run_line(&w, "A=1\n\n", 5);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(count_entries(DIR_), 1);
	ts_run_free(&r);
	sr_argv_free(&w);
}
