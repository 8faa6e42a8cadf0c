/* test_quote.c — sr_quote proven by execution: hostile arguments go through
 * `printf '%s\0' ARG...` under every POSIX shell present (sh, bash, dash,
 * and zsh/ksh/mksh/busybox when installed), in an empty temporary directory;
 * the output must be the arguments byte for byte and the directory must stay
 * empty (nothing ran, nothing was redirected). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sr_quote.h"

struct shell {
	const char *path;
	const char *argv1; /* applet name for busybox, else NULL */
};

static const struct shell shells[] = {
	{"/bin/sh", NULL},   {"/bin/bash", NULL}, {"/bin/dash", NULL}, {"/usr/bin/zsh", NULL},
	{"/bin/ksh", NULL},  {"/bin/mksh", NULL}, {"/bin/busybox", "sh"},
};
#define NSHELLS (sizeof(shells) / sizeof(shells[0]))

/* Every test runs in its own empty directory, removed by .fini even when an
 * assertion failed (the files a broken quoter creates included). */
static char dir[] = "/tmp/sr_quote_XXXXXX";

struct run {
	int status; /* exit status, or -1 if killed */
	char *out;
	size_t len;
};

/* Runs `shell -c cmd` in the test's directory with stdout captured; stderr
 * passes through (unless quiet) so a failure shows the shell's complaint. */
static struct run run_shell(const struct shell *sh, const char *cmd, bool quiet)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		if (chdir(dir) != 0 || dup2(fds[1], 1) < 0)
			_exit(126);
		close(fds[1]);
		if (quiet && !freopen("/dev/null", "w", stderr))
			_exit(126);
		if (sh->argv1)
			execl(sh->path, sh->path, sh->argv1, "-c", cmd, (char *)NULL);
		else
			execl(sh->path, sh->path, "-c", cmd, (char *)NULL);
		_exit(126);
	}
	close(fds[1]);
	struct run r = {.out = malloc(1 << 16)};
	size_t cap = 1 << 16;
	ssize_t n;
	for (;;) {
		if (r.len == cap)
			r.out = realloc(r.out, cap *= 2);
		cr_assert_not_null(r.out);
		n = read(fds[0], r.out + r.len, cap - r.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r.len += (size_t)n;
	}
	close(fds[0]);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return r;
}

static int count_entries(const char *path_dir)
{
	DIR *d = opendir(path_dir);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void remove_dir(const char *path_dir)
{
	DIR *d = opendir(path_dir);
	if (!d)
		return;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", path_dir, e->d_name);
		if (unlink(path) != 0)
			rmdir(path);
	}
	closedir(d);
	rmdir(path_dir);
}

/* Shows an argument in assertion messages without control bytes. */
static const char *show(const char *s)
{
	static char buf[80];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o < sizeof(buf) - 8; p++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
				      *p >= 0x20 && *p < 0x7f ? "%c" : "\\x%02x", *p);
	buf[o] = '\0';
	return buf;
}

/* `printf '%s\0' args...` through every shell present: output must be the
 * arguments, NUL-separated, and dir must stay empty. */
static void assert_round_trip(const char *const *args, size_t n)
{
	const char **argv = malloc((n + 2) * sizeof(*argv));
	cr_assert_not_null(argv);
	argv[0] = "printf";
	argv[1] = "%s\\0";
	memcpy(argv + 2, args, n * sizeof(*argv));
	char *cmd, err[128] = "";
	cr_assert_eq(sr_quote_argv(argv, n + 2, &cmd, err, sizeof(err)), 0, "%s", err);
	free(argv);

	int tried = 0;
	for (size_t s = 0; s < NSHELLS; s++) {
		if (access(shells[s].path, X_OK) != 0)
			continue;
		tried++;
		struct run r = run_shell(&shells[s], cmd, false);
		cr_assert_eq(r.status, 0, "%s exited %d for %s", shells[s].path, r.status, show(cmd));
		size_t off = 0;
		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(args[i]);
			cr_assert(off + len < r.len && memcmp(r.out + off, args[i], len) == 0 &&
					  r.out[off + len] == '\0',
				  "%s: argument %zu (%s) did not come back intact", shells[s].path, i,
				  show(args[i]));
			off += len + 1;
		}
		cr_assert_eq(off, r.len, "%s: %zu extra output bytes", shells[s].path, r.len - off);
		cr_assert_eq(count_entries(dir), 0, "%s created a file for %s", shells[s].path, show(cmd));
		free(r.out);
	}
	cr_assert_geq(tried, 3, "expected at least sh, bash and dash");
	free(cmd);
}

static void make_dir(void)
{
	strcpy(dir, "/tmp/sr_quote_XXXXXX"); /* in case tests share a process */
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_made_dir(void)
{
	remove_dir(dir);
}

TestSuite(quote, .init = make_dir, .fini = remove_made_dir);

static const char *const hostile[] = {
	"a b",
	"a  b   c",
	"tab\there",
	"'",
	"it's",
	"''",
	"'\\''",
	"\"",
	"\"quoted\"",
	"\\",
	"back\\slash\\",
	"\\n",
	"$(touch PWNED)",
	"`touch PWNED`",
	"$(touch PWNED)`touch PWNED`",
	";touch PWNED",
	";rm -rf x",
	"x && touch PWNED",
	"x || touch PWNED",
	"&& touch PWNED",
	"| tee PWNED",
	"x|tee PWNED",
	">file",
	">>file",
	"<file",
	"2>PWNED",
	"&",
	"x & touch PWNED",
	"line1\nline2",
	"\ntouch PWNED\n",
	"cr\rhere",
	"*",
	"?",
	"[a]",
	"[!a]*",
	"~",
	"~root",
	"{a,b}",
	"{1..3}",
	"$HOME",
	"${HOME}",
	"${IFS}",
	"$IFS",
	"$0",
	"$$",
	"$?",
	"$@",
	"!",
	"!!",
	"!$",
	"#comment",
	"x #comment",
	"-n",
	"-e",
	"--help",
	"-",
	"--",
	"",
	"=ls",
	"A=b",
	"%1",
	"\xff",
	"caf\xc3\xa9 \xff\xfe \xe2\x80\xae",
	"\x1b[31mred\x1b[0m",
	"\x7f\x01\x02",
	"<(touch PWNED)",
	">(touch PWNED)",
	"$'\\x41'",
	"$\"x\"",
	"(subshell)",
	"{ touch PWNED; }",
	"\\'",
	"'$(touch PWNED)'",
	"\"$(touch PWNED)\"",
	"a'b\"c\\d`e$f",
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

Test(quote, hostile_arguments_one_at_a_time)
{
	for (size_t i = 0; i < NHOSTILE; i++)
		assert_round_trip(&hostile[i], 1);
}

Test(quote, hostile_arguments_all_in_one_command)
{
	assert_round_trip(hostile, NHOSTILE);
}

Test(quote, long_and_every_byte_arguments)
{
	static char big[4001], all[256], quotes[2001];
	memset(big, 'x', 4000);
	for (int i = 0; i < 4000; i += 97)
		big[i] = "'\"$`\\;\n "[i % 8];
	for (int b = 1; b < 256; b++)
		all[b - 1] = (char)b;
	memset(quotes, '\'', 2000);
	const char *args[] = {big, all, quotes, "", all};
	assert_round_trip(args, sizeof(args) / sizeof(args[0]));
}

/* Seeded random arguments of bytes 1..255: whatever the bytes, they come
 * back unchanged. */
Test(quote, random_bytes_round_trip)
{
	unsigned seed = 12345;
	for (int round = 0; round < 40; round++) {
		static char bufs[8][65];
		const char *args[8];
		size_t n = 1 + (size_t)(rand_r(&seed) % 8);
		for (size_t i = 0; i < n; i++) {
			size_t len = (size_t)(rand_r(&seed) % 65);
			for (size_t j = 0; j < len; j++)
				bufs[i][j] = (char)(1 + rand_r(&seed) % 255);
			bufs[i][len] = '\0';
			args[i] = bufs[i];
		}
		assert_round_trip(args, n);
	}
}

static void assert_quotes_to(const char *const *argv, size_t argc, const char *want)
{
	char *got, err[128] = "";
	cr_assert_eq(sr_quote_argv(argv, argc, &got, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(got, want);
	free(got);
}

Test(quote, exact_quoting_of_simple_cases)
{
	const char *git[] = {"git", "-C", "/srv/repos/github.com/acme/api", "fetch", "--", "origin"};
	assert_quotes_to(git, 6, "'git' -C /srv/repos/github.com/acme/api fetch -- origin");
	const char *pr[] = {"printf", "%s\\0", "a b"};
	assert_quotes_to(pr, 3, "'printf' '%s\\0' 'a b'");
	const char *apos[] = {"echo", "it's", "'"};
	assert_quotes_to(apos, 3, "'echo' 'it'\\''s' ''\\'''");
	const char *empty[] = {"x", "", "k=v,w:1@h%2+3"};
	assert_quotes_to(empty, 3, "'x' '' k=v,w:1@h%2+3");
	const char *eq[] = {"env", "=ls", "$HOME", "~", "a\nb"};
	assert_quotes_to(eq, 5, "'env' '=ls' '$HOME' '~' 'a\nb'");
	const char *one[] = {"/usr/bin/true"};
	assert_quotes_to(one, 1, "'/usr/bin/true'");

	char *q;
	cr_assert_eq(sr_quote_arg("safe-1.0_x/y", &q), 0);
	cr_assert_str_eq(q, "safe-1.0_x/y");
	free(q);
	cr_assert_eq(sr_quote_arg("", &q), 0);
	cr_assert_str_eq(q, "''");
	free(q);
	cr_assert_eq(sr_quote_arg("a b'c", &q), 0);
	cr_assert_str_eq(q, "'a b'\\''c'");
	free(q);
}

/* argv[0] is always quoted: a keyword or an assignment in the command
 * position must be looked up as a command (127), not parsed as syntax or
 * silently succeed as an assignment. (Not "%1": bash takes even a quoted
 * command word starting with '%' as a job spec; see sr_quote.h.) */
Test(quote, command_word_is_never_keyword_or_assignment)
{
	static const char *const words[] = {"if", "A=b", "!", "{", "case", "while", "[["};
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		char *cmd;
		cr_assert_eq(sr_quote_argv(&words[w], 1, &cmd, NULL, 0), 0);
		for (size_t s = 0; s < NSHELLS; s++) {
			if (access(shells[s].path, X_OK) != 0)
				continue;
			struct run r = run_shell(&shells[s], cmd, true);
			cr_assert_eq(r.status, 127, "%s ran %s with status %d", shells[s].path, cmd, r.status);
			free(r.out);
		}
		free(cmd);
	}
	cr_assert_eq(count_entries(dir), 0);
}

Test(quote, rejects_null_and_empty_with_the_index)
{
	char *out = (char *)1, err[128] = "";
	cr_assert_eq(sr_quote_argv(NULL, 1, &out, err, sizeof(err)), -EINVAL);
	cr_assert_null(out);
	cr_assert_not_null(strstr(err, "empty command"), "%s", err);

	const char *argv[] = {"a", NULL, "c"};
	cr_assert_eq(sr_quote_argv(argv, 0, &out, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "empty command"), "%s", err);
	cr_assert_eq(sr_quote_argv(argv, 3, &out, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "argument 1 is NULL");
	cr_assert_null(out);
	/* err is optional */
	cr_assert_eq(sr_quote_argv(argv, 3, &out, NULL, 0), -EINVAL);
	cr_assert_eq(sr_quote_argv(argv, 1, NULL, err, sizeof(err)), -EINVAL);

	cr_assert_eq(sr_quote_arg(NULL, &out), -EINVAL);
	cr_assert_null(out);
	cr_assert_eq(sr_quote_arg("x", NULL), -EINVAL);
}
