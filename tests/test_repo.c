/* test_repo.c — sr_repo: URL building, request checks and result parsing,
 * then the real remote script against real git: a bare repository in a
 * scratch dir is the "origin" (file://), the quoted prepare line runs
 * through /bin/sh -c as an exec channel's shell would, and one test runs it
 * through the test sshd. A tiny HTTP server that always answers 401 shows
 * what git sends as credentials. GUARD_S only guards against hangs. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_argv.h"
#include "sr_loop.h"
#include "sr_project.h"
#include "sr_repo.h"
#include "sr_session.h"
#include "sr_ssh.h"
#include "sshd_harness.h"

#define GUARD_S 60.0
#define TOKEN "ghp_SeCrEt0123456789tokenVALUE"
/* Valid for git and sr_project; every shell would run something if it were
 * ever pasted into a command line unquoted. */
#define HOSTILE "h/$(touch${IFS}pwned);touch>pwned&'\"!#|`touch${IFS}pwned`"

static char SCRATCH[64];  /* mkdtemp'ed, "" when none */
static struct sshd D;
static struct sr_loop *L;
static struct sr_ssh *S;
static struct sr_ssh_driver *DRV;
static int DRV_ERR;
static pid_t SERVER;      /* the HTTP server child, 0 when none */
static void *T_MEM[512];  /* freed by teardown: a failed assertion leaks nothing */

static void *tmem(void *p)
{
	cr_assert_not_null(p, "out of memory");
	for (size_t i = 0; i < sizeof(T_MEM) / sizeof(T_MEM[0]); i++)
		if (!T_MEM[i]) {
			T_MEM[i] = p;
			return p;
		}
	cr_assert_fail("tmem: too many buffers");
	return p;
}

static void run_argv_raw(const char *const *argv, int *status);

static void teardown(void)
{
	sr_ssh_driver_free(DRV);
	DRV = NULL;
	sr_ssh_free(S);
	S = NULL;
	sshd_stop(&D);
	sr_loop_free(L);
	L = NULL;
	if (SERVER > 0) {
		kill(SERVER, SIGKILL);
		waitpid(SERVER, NULL, 0);
		SERVER = 0;
	}
	if (SCRATCH[0]) {
		int st;
		run_argv_raw((const char *const[]){"rm", "-rf", "--", SCRATCH, NULL}, &st);
		SCRATCH[0] = '\0';
	}
	for (size_t i = 0; i < sizeof(T_MEM) / sizeof(T_MEM[0]); i++) {
		free(T_MEM[i]);
		T_MEM[i] = NULL;
	}
}

TestSuite(repo, .fini = teardown);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *tprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = tmem(malloc((size_t)n + 1));
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ---- running things locally ---- */

struct run {
	int status; /* exit status, -1 when killed by a signal */
	char *out, *err;
};

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *data, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* The environment of a run: the scratch dir as HOME (no ~/.gitconfig,
 * ~/.git-credentials of the machine), no system git config, no proxy, and
 * GH_TOKEN only when asked for. Runs in the child. */
static void child_env(const char *token)
{
	static const char *const drop[] = {
		"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
		"GIT_CONFIG_PARAMETERS", "GIT_ASKPASS", "SSH_ASKPASS", "http_proxy", "HTTP_PROXY",
		"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "GH_TOKEN",
	};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		unsetenv(drop[i]);
	if (SCRATCH[0]) {
		char cfg[128];
		snprintf(cfg, sizeof(cfg), "%s/.config", SCRATCH);
		setenv("HOME", SCRATCH, 1);
		setenv("XDG_CONFIG_HOME", cfg, 1);
		if (chdir(SCRATCH) != 0)
			_exit(126);
	}
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	if (token)
		setenv("GH_TOKEN", token, 1);
}

/* Runs argv (PATH lookup) in its own process group with stdin from
 * /dev/null, collecting stdout and stderr. The group is SIGKILLed after
 * GUARD_S (an assertion then fails) or, when kill_fd >= 0, as soon as
 * kill_fd is readable. Output buffers go to test memory when keep is set. */
static void run_collect(const char *const *argv, const char *token, int kill_fd, struct run *r,
			bool keep)
{
	int po[2], pe[2];
	cr_assert_eq(pipe(po), 0);
	cr_assert_eq(pipe(pe), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setpgid(0, 0);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		close(po[0]);
		close(pe[0]);
		child_env(token);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct buf b[2] = {{0}, {0}};
	setpgid(pid, pid); /* also here: no race with the kill below */
	struct pollfd pfd[3] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}, {kill_fd, POLLIN, 0}};
	double end = now_s() + GUARD_S;
	int open_fds = 2, killed = 0;
	while (open_fds > 0) {
		if (!killed && now_s() > end) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
		int n = poll(pfd, 3, 200);
		if (n > 0 && pfd[2].fd >= 0 && pfd[2].revents) {
			kill(-pid, SIGKILL);
			pfd[2].fd = -1;
			n--;
		}
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2 && n > 0; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			char chunk[4096];
			ssize_t got = read(pfd[i].fd, chunk, sizeof(chunk));
			if (got > 0) {
				buf_add(&b[i], chunk, (size_t)got);
			} else if (got == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (keep) {
		buf_add(&b[0], "", 0);
		buf_add(&b[1], "", 0);
		r->out = tmem(b[0].p);
		r->err = tmem(b[1].p);
	} else {
		free(b[0].p);
		free(b[1].p);
		r->out = r->err = NULL;
	}
	cr_assert_not(killed, "%s did not finish within %.0f s", argv[0], GUARD_S);
}

static void run_argv_raw(const char *const *argv, int *status)
{
	struct run r;
	run_collect(argv, NULL, -1, &r, false);
	*status = r.status;
}

static void run_argv(const char *const *argv, const char *token, struct run *r)
{
	run_collect(argv, token, -1, r, true);
}

/* Runs a shell script with positional parameters; asserts success. */
static char *sh_ok(const char *script, const char *const *params)
{
	const char *argv[16] = {"/bin/sh", "-c", script, "test-sh"};
	size_t n = 4;
	for (size_t i = 0; params && params[i]; i++)
		argv[n++] = params[i];
	argv[n] = NULL;
	struct run r;
	run_argv(argv, NULL, &r);
	cr_assert_eq(r.status, 0, "script failed (%d): %s\n%s", r.status, r.err, script);
	size_t len = strlen(r.out);
	while (len && r.out[len - 1] == '\n')
		r.out[--len] = '\0';
	return r.out;
}

/* `git ARGS...` run in dir: its output, trailing newlines removed;
 * asserts success. */
static char *git_v(const char *dir, const char *const *args)
{
	const char *params[12] = {dir};
	size_t n = 1;
	for (size_t i = 0; args[i] && n < 11; i++)
		params[n++] = args[i];
	params[n] = NULL;
	return sh_ok("cd \"$1\" && shift && git \"$@\"", params);
}

static char *git_in(const char *dir, const char *a1, const char *a2, const char *a3)
{
	return git_v(dir, (const char *const[]){a1, a2, a3, NULL});
}

static int git_status(const char *dir, const char *a1, const char *a2)
{
	struct run r;
	run_argv((const char *const[]){"git", "-C", dir, a1, a2, NULL}, NULL, &r);
	return r.status;
}

static bool git_available(void)
{
	struct run r;
	run_argv((const char *const[]){"git", "--version", NULL}, NULL, &r);
	return r.status == 0;
}

static char *read_text(const char *path)
{
	return sh_ok("cat -- \"$1\"", (const char *const[]){path, NULL});
}

/* `ls -A dir`: what a directory holds, one name a line. */
static char *ls_a(const char *dir)
{
	return sh_ok("ls -A \"$1\"", (const char *const[]){dir, NULL});
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- the fixture: origin = SCRATCH/remote/acme/api.git ---- */

static const char SETUP[] =
	"set -e\n"
	"cd \"$1\"\n"
	"git init -q --bare -b main remote/acme/api.git\n"
	"git init -q -b main work\n"
	"cd work\n"
	"git config user.name smrelay-test\n"
	"git config user.email test@smrelay.invalid\n"
	"echo one > f && git add f && git commit -q -m one\n"
	"git switch -q -c feature/x && echo feature > f && git commit -q -am feature\n"
	"git switch -q -c \"$2\" main && echo hostile > f && git commit -q -am hostile\n"
	"git switch -q main\n"
	"git remote add origin \"$1/remote/acme/api.git\"\n"
	"git push -q origin --all\n";

/* A new commit on branch $2 of the work copy, pushed; prints its id. */
static const char PUSH[] =
	"set -e\n"
	"cd \"$1/work\"\n"
	"git switch -q \"$2\" 2>/dev/null || git switch -q -c \"$2\"\n"
	"echo \"$3\" > f && git commit -q -am \"$3\"\n"
	"git push -q origin \"$2\"\n"
	"git rev-parse HEAD\n";

static void need_git(void)
{
	if (!git_available())
		cr_skip_test("git is not installed");
}

static void make_fixture(void)
{
	strcpy(SCRATCH, "/tmp/smrelay-repo-XXXXXX");
	cr_assert_not_null(mkdtemp(SCRATCH), "mkdtemp: %s", strerror(errno));
	sh_ok(SETUP, (const char *const[]){SCRATCH, HOSTILE, NULL});
}

static char *push_commit(const char *branch, const char *text)
{
	return sh_ok(PUSH, (const char *const[]){SCRATCH, branch, text, NULL});
}

static char *origin_rev(const char *branch)
{
	return git_in(tprintf("%s/remote/acme/api.git", SCRATCH), "rev-parse", branch, NULL);
}

/* A request as `start` would build it: the user's arguments through
 * sr_project_parse, then the URL and the paths. */
struct reqbuf {
	struct sr_project_spec spec;
	char *url, *repo, *wt;
	struct sr_repo_req req;
};

static void make_req_base(struct reqbuf *b, const char *base, const char *a1, const char *a2,
			  bool fetch)
{
	const char *args[] = {a1, a2};
	char err[256] = "";
	memset(b, 0, sizeof(*b));
	cr_assert_eq(sr_project_parse(a2 ? 2 : 1, args, &b->spec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_repo_url(base, &b->spec, &b->url, err, sizeof(err)), 0, "%s", err);
	tmem(b->url);
	cr_assert_eq(sr_project_repo_path(tprintf("%s/repos", SCRATCH), &b->spec, &b->repo), 0);
	tmem(b->repo);
	if (b->spec.worktree) {
		cr_assert_not_null(b->spec.worktree_name, "tests name their worktrees");
		cr_assert_eq(sr_project_worktree_path(tprintf("%s/worktrees", SCRATCH), &b->spec,
						      b->spec.worktree_name, &b->wt), 0);
		tmem(b->wt);
	}
	b->req = (struct sr_repo_req){
		.url = b->url,
		.repo_path = b->repo,
		.branch = b->spec.branch,
		.worktree_path = b->wt,
		.worktree_name = b->wt ? b->spec.worktree_name : NULL,
		.fetch = fetch,
	};
	/* the spec's strings move to test memory: nothing leaks on a failure */
	tmem(b->spec.org);
	tmem(b->spec.repo);
	if (b->spec.branch)
		tmem(b->spec.branch);
	if (b->spec.worktree_name)
		tmem(b->spec.worktree_name);
}

static void make_req(struct reqbuf *b, const char *a1, const char *a2, bool fetch)
{
	make_req_base(b, tprintf("file://%s/remote", SCRATCH), a1, a2, fetch);
}

struct prep {
	int rc;
	char *workdir;
	char err[512];
	char *line;
	struct run run;
};

static char *quoted_line(const struct sr_repo_req *q)
{
	struct sr_argv a = {0};
	char err[512] = "";
	int rc = sr_repo_prepare_argv(q, &a, err, sizeof(err));
	cr_assert_eq(rc, 0, "prepare_argv: %s", err);
	char *line = NULL;
	rc = sr_argv_quote(&a, &line, err, sizeof(err));
	sr_argv_free(&a);
	cr_assert_eq(rc, 0, "%s", err);
	return tmem(line);
}

/* The quoted line through /bin/sh -c, as an exec channel runs it. */
static void prepare(const struct sr_repo_req *q, const char *token, struct prep *p)
{
	memset(p, 0, sizeof(*p));
	p->line = quoted_line(q);
	run_argv((const char *const[]){"/bin/sh", "-c", p->line, NULL}, token, &p->run);
	p->rc = sr_repo_prepare_result(p->run.status, p->run.out, p->run.err, &p->workdir, p->err,
				       sizeof(p->err));
	if (p->workdir)
		tmem(p->workdir);
}

static void prepare_ok(const struct sr_repo_req *q, struct prep *p)
{
	prepare(q, NULL, p);
	cr_assert_eq(p->rc, 0, "prepare failed: %s\nstderr: %s", p->err, p->run.err);
}

static char *head_ref(const char *dir)
{
	return git_in(dir, "symbolic-ref", "HEAD", NULL);
}

/* No file named pwned anywhere below the scratch dir or here. */
static void assert_no_pwned(void)
{
	char *found = sh_ok("find \"$1\" -name pwned; ls pwned 2>/dev/null || :",
			    (const char *const[]){SCRATCH, NULL});
	cr_assert_str_empty(found, "a branch name was run as shell code: %s", found);
	cr_assert_not(exists("pwned"));
}

/* ---- pure parts ---- */

Test(repo, url_building)
{
	struct sr_project_spec s = {0};
	const char *args[] = {"acme/api@feature/x"};
	char err[256] = "", *url = NULL;
	cr_assert_eq(sr_project_parse(1, args, &s, err, sizeof(err)), 0, "%s", err);
	static const struct {
		const char *base, *want;
	} ok[] = {
		{"https://github.com/", "https://github.com/acme/api.git"},
		{"https://github.com", "https://github.com/acme/api.git"},
		{"http://git.local:8080/mirror", "http://git.local:8080/mirror/acme/api.git"},
		{"ssh://git@github.com/", "ssh://git@github.com/acme/api.git"},
		{"git@github.com:", "git@github.com:acme/api.git"},
		{"git@example.com:repos", "git@example.com:repos/acme/api.git"},
		{"file:///srv/git/", "file:///srv/git/acme/api.git"},
		{"/srv/git", "/srv/git/acme/api.git"},
		/* an '@' in the path is not userinfo */
		{"https://example.com/a@b/", "https://example.com/a@b/acme/api.git"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(sr_repo_url(ok[i].base, &s, &url, err, sizeof(err)), 0, "%s: %s",
			     ok[i].base, err);
		cr_assert_str_eq(url, ok[i].want);
		free(url);
	}
	static const struct {
		const char *base, *msg;
	} bad[] = {
		{"", "repository base URL is empty"},
		{"ftp://example.com/",
		 "repository base URL 'ftp://example.com/' must start with https://, http://, ssh://, "
		 "git@, file:// or '/'"},
		{"-uhttps://x/", "repository base URL '-uhttps://x/' must start with https://, http://, "
				 "ssh://, git@, file:// or '/'"},
		{"github.com/", "repository base URL 'github.com/' must start with https://, http://, "
				"ssh://, git@, file:// or '/'"},
		{"https://x-access-token:ghp_x@github.com/",
		 "repository base URL must not contain credentials (GH_TOKEN on the VM is used for them)"},
		{"https://user@github.com",
		 "repository base URL must not contain credentials (GH_TOKEN on the VM is used for them)"},
		{"git@github.com", "repository base URL 'git@github.com' needs a ':' after the host (git@host:)"},
		{"https://github.com/a b/", "repository base URL contains whitespace or a control character"},
		{"https://github.com/\n", "repository base URL contains whitespace or a control character"},
		{"https://github.com/\x1b[2J", "repository base URL contains whitespace or a control character"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		url = (char *)1;
		cr_assert_eq(sr_repo_url(bad[i].base, &s, &url, err, sizeof(err)), -EINVAL, "row %zu", i);
		cr_assert_null(url);
		cr_assert_str_eq(err, bad[i].msg, "row %zu", i);
	}
	cr_assert_eq(sr_repo_url(NULL, &s, &url, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_repo_url("https://github.com/", &s, NULL, err, sizeof(err)), -EINVAL);
	sr_project_spec_free(&s);

	/* a static project has no URL; an invalid spec is refused */
	struct sr_project_spec st = {.name = "demo"};
	cr_assert_eq(sr_repo_url("https://github.com/", &st, &url, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "a repository URL needs org/repo");
	struct sr_project_spec ev = {.org = "acme", .repo = "-x"};
	cr_assert_eq(sr_repo_url("https://github.com/", &ev, &url, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "repo '-x' must not start with '-'");
	cr_assert_eq(sr_repo_url("https://github.com/", NULL, &url, NULL, 0), -EINVAL);
}

Test(repo, argv_shape)
{
	struct sr_repo_req q = {
		.url = "https://github.com/acme/api.git",
		.repo_path = "/srv/repos/github.com/acme/api",
		.branch = HOSTILE,
		.worktree_path = "/srv/wt/acme/api/fix-1",
		.worktree_name = "fix-1",
		.fetch = true,
	};
	struct sr_argv a = {0};
	char err[256] = "";
	cr_assert_eq(sr_repo_prepare_argv(&q, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a.n, 10);
	cr_assert_str_eq(a.v[0], "sh");
	cr_assert_str_eq(a.v[1], "-c");
	cr_assert_str_eq(a.v[3], "smrelay-repo");
	const char *want[] = {q.url, q.repo_path, HOSTILE, q.worktree_path, "fix-1", "1"};
	for (size_t i = 0; i < 6; i++)
		cr_assert_str_eq(a.v[4 + i], want[i], "argv[%zu]", 4 + i);
	cr_assert_null(a.v[10]);
	/* SCRIPT is a constant: no request data in it */
	cr_assert_null(strstr(a.v[2], "acme"));
	cr_assert_null(strstr(a.v[2], "touch"));
	/* a second build into a used argv is refused, the argv untouched */
	cr_assert_eq(sr_repo_prepare_argv(&q, &a, err, sizeof(err)), -EINVAL);
	cr_assert_eq(a.n, 10);
	sr_argv_free(&a);

	/* defaults: "" for what is not given, fetch 0; a stray worktree name
	 * (without a path) is refused rather than passed */
	q.branch = NULL;
	q.worktree_path = NULL;
	q.worktree_name = NULL;
	q.fetch = false;
	cr_assert_eq(sr_repo_prepare_argv(&q, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(a.v[6], "");
	cr_assert_str_eq(a.v[7], "");
	cr_assert_str_eq(a.v[8], "");
	cr_assert_str_eq(a.v[9], "0");
	sr_argv_free(&a);
}

Test(repo, invalid_requests)
{
	const struct sr_repo_req good = {
		.url = "https://github.com/acme/api.git",
		.repo_path = "/srv/repos/github.com/acme/api",
		.worktree_path = "/srv/wt/acme/api/w",
		.worktree_name = "w",
	};
	static const struct {
		int field; /* 0 url, 1 repo_path, 2 branch, 3 worktree_path, 4 worktree_name */
		const char *value;
		const char *msg;
	} cases[] = {
		{0, "", "repository URL is empty"},
		{0, "--upload-pack=touch /tmp/x",
		 "repository URL contains whitespace or a control character"},
		{0, "--upload-pack=id", "repository URL '--upload-pack=id' must start with https://, "
					"http://, ssh://, git@, file:// or '/'"},
		{1, "srv/repos/api", "repository path 'srv/repos/api' is not an absolute path"},
		{1, "/srv/repos/../etc", "repository path '/srv/repos/../etc' has a '..' component"},
		{1, "/srv/repos/api/", "repository path '/srv/repos/api/' must not end with '/'"},
		{1, "/srv/a\nb", "repository path '/srv/a\\x0ab' contains a control character"},
		{1, NULL, "repository path is empty"},
		{2, "-x", "branch '-x' must not start with '-'"},
		{2, "a..b", "branch 'a..b' contains '..'"},
		{2, "a b", "branch 'a b' contains ' ' (not allowed: space, ~ ^ : ? * [ \\, control "
			   "characters and non-ASCII)"},
		{2, "", "branch is empty"},
		{3, "wt/w", "worktree path 'wt/w' is not an absolute path"},
		{3, "/srv/wt/../w", "worktree path '/srv/wt/../w' has a '..' component"},
		{3, "/srv/repos/github.com/acme/api",
		 "worktree path '/srv/repos/github.com/acme/api' is the repository path or inside it"},
		{3, "/srv/repos/github.com/acme/api/w",
		 "worktree path '/srv/repos/github.com/acme/api/w' is the repository path or inside it"},
		{3, NULL, "a worktree name without a worktree path"},
		{4, NULL, "a worktree path needs a worktree name"},
		{4, "-w", "worktree name '-w' must not start with '-'"},
		{4, "a/b", "worktree name 'a/b' contains '/': only letters, digits, '.', '_' and '-' are allowed"},
		{4, "..", "worktree name '..' must not start with '.'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_repo_req q = good;
		const char **f[] = {&q.url, &q.repo_path, &q.branch, &q.worktree_path, &q.worktree_name};
		*f[cases[i].field] = cases[i].value;
		struct sr_argv a = {0};
		char err[256] = "";
		cr_assert_eq(sr_repo_prepare_argv(&q, &a, err, sizeof(err)), -EINVAL, "row %zu", i);
		cr_assert_null(a.v, "row %zu", i);
		cr_assert_str_eq(err, cases[i].msg, "row %zu", i);
	}
	/* a sibling whose name merely starts like the repository is fine */
	struct sr_repo_req q = good;
	q.worktree_path = "/srv/repos/github.com/acme/api2";
	struct sr_argv a = {0};
	cr_assert_eq(sr_repo_prepare_argv(&q, &a, NULL, 0), 0);
	sr_argv_free(&a);
	cr_assert_eq(sr_repo_prepare_argv(NULL, &a, NULL, 0), -EINVAL);
	cr_assert_eq(sr_repo_prepare_argv(&q, NULL, NULL, 0), -EINVAL);
}

Test(repo, result_messages)
{
	char err[256], *wd = (char *)1;
	static const struct {
		int status;
		const char *errtext, *msg;
	} cases[] = {
		/* GitHub, private or missing repository: git's fatal line */
		{1, "remote: Repository not found.\nfatal: repository 'https://github.com/a/b.git/' not "
		    "found\nsmrelay-repo: could not clone https://github.com/a/b.git\n",
		 "fatal: repository 'https://github.com/a/b.git/' not found"},
		/* the first of git's lines carries the reason */
		{1, "error: Your local changes to the following files would be overwritten by checkout:\n"
		    "\tf\nPlease commit your changes or stash them before you switch branches.\nAborting\n"
		    "smrelay-repo: could not check out branch 'x' in /r\n",
		 "error: Your local changes to the following files would be overwritten by checkout:"},
		/* our own message when git said nothing, warnings skipped */
		{1, "smrelay-repo: warning: /r has local changes: not fast-forwarded to x\n"
		    "smrelay-repo: branch 'nope' not found on origin\n",
		 "branch 'nope' not found on origin"},
		/* with the reason another program gave just before */
		{1, "sh: 1: git: not found\nsmrelay-repo: could not clone file:///x.git\n",
		 "could not clone file:///x.git (sh: 1: git: not found)"},
		{1, "mkdir: cannot create directory '/r': Permission denied\nsmrelay-repo: first\n"
		    "smrelay-repo: second\n", "second"},
		/* anything else: the last non-empty line, trailing blanks and \r lines handled */
		{127, "sh: 1: git: not found  \n\n", "sh: 1: git: not found"},
		{1, "Receiving objects: 10%\rkilled early\r", "killed early"},
		/* hostile bytes escaped */
		{1, "fatal: bad \x1b[31mthing\x7f\n", "fatal: bad \\x1b[31mthing\\x7f"},
		{1, "", "preparing the repository failed with exit status 1"},
		{-1, NULL, "preparing the repository was killed or ended without a status"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wd = (char *)1;
		cr_assert_eq(sr_repo_prepare_result(cases[i].status, "/r\n", cases[i].errtext, &wd, err,
						    sizeof(err)), -EIO, "row %zu", i);
		cr_assert_null(wd);
		cr_assert_str_eq(err, cases[i].msg, "row %zu", i);
	}
	/* a long line is cut, and a small err buffer still gets a string */
	char longline[1200];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "fatal: ", 7);
	cr_assert_eq(sr_repo_prepare_result(128, NULL, longline, &wd, err, sizeof(err)), -EIO);
	cr_assert_eq(strlen(err), 255);
	char big[512];
	cr_assert_eq(sr_repo_prepare_result(128, NULL, longline, &wd, big, sizeof(big)), -EIO);
	cr_assert_eq(strlen(big), 303);
	cr_assert_str_eq(big + 300, "...");
	char tiny[4];
	cr_assert_eq(sr_repo_prepare_result(128, NULL, "fatal: x\n", &wd, tiny, sizeof(tiny)), -EIO);
	cr_assert_str_eq(tiny, "fat");

	/* success: the last non-empty stdout line, kept as is */
	cr_assert_eq(sr_repo_prepare_result(0, "noise\n/srv/w ork \n\n", "smrelay-repo: warning: x\n",
					    &wd, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(wd, "/srv/w ork ");
	free(wd);
	static const struct {
		const char *out, *msg;
	} nowd[] = {
		{"", "preparing the repository printed no working directory"},
		{NULL, "preparing the repository printed no working directory"},
		{"relative\n", "preparing the repository printed no working directory"},
		{"/a\rb\n", "the working directory printed contains a control character"},
	};
	for (size_t i = 0; i < sizeof(nowd) / sizeof(nowd[0]); i++) {
		cr_assert_eq(sr_repo_prepare_result(0, nowd[i].out, NULL, &wd, err, sizeof(err)), -EIO);
		cr_assert_null(wd);
		cr_assert_str_eq(err, nowd[i].msg, "row %zu", i);
	}
	cr_assert_eq(sr_repo_prepare_result(0, "/x\n", NULL, NULL, err, sizeof(err)), -EINVAL);
	/* a long reason still leaves a terminated string */
	char *why = tprintf("%s\nsmrelay-repo: could not clone x\n", longline + 7);
	cr_assert_eq(sr_repo_prepare_result(1, NULL, why, &wd, err, sizeof(err)), -EIO);
	cr_assert_eq(strlen(err), 255);
	cr_assert(!strncmp(err, "could not clone x (xxx", 22), "%s", err);
	cr_assert_eq(sr_repo_prepare_result(1, NULL, why, &wd, NULL, 100), -EIO);

	/* warnings of a successful run */
	cr_assert(sr_repo_prepare_warning("x\nsmrelay-repo: warning: /r has \x1b changes\n"
					  "smrelay-repo: warning: second\n", err, sizeof(err)));
	cr_assert_str_eq(err, "/r has \\x1b changes");
	cr_assert_not(sr_repo_prepare_warning("smrelay-repo: no\n", err, sizeof(err)));
	cr_assert_str_empty(err);
	cr_assert_not(sr_repo_prepare_warning(NULL, err, sizeof(err)));
}

/* ---- the script against real git ---- */

Test(repo, clone_then_reuse_and_fetch)
{
	need_git();
	make_fixture();
	struct reqbuf b;
	struct prep p;
	make_req(&b, "acme/api", NULL, false);
	char *main1 = origin_rev("main");

	prepare_ok(&b.req, &p);
	cr_assert_str_eq(p.workdir, b.repo);
	cr_assert_str_eq(b.repo, tprintf("%s/repos/github.com/acme/api", SCRATCH));
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "HEAD", NULL), main1);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/main");
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "one");
	/* only the clone is left next to it: the temp dir is gone */
	cr_assert_str_eq(ls_a(tprintf("%s/repos/github.com/acme", SCRATCH)),
			 "api");
	/* the -c settings were not written into the clone */
	cr_assert_null(strstr(read_text(tprintf("%s/.git/config", b.repo)), "credential"));

	/* a marker the session left: a reclone would lose it */
	sh_ok("echo mine > \"$1/marker\"", (const char *const[]){b.repo, NULL});
	char *main2 = push_commit("main", "two");
	cr_assert_str_neq(main2, main1);

	/* SM_AUTO_PULL off: nothing fetched, nothing moved */
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(p.workdir, b.repo);
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "HEAD", NULL), main1);
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "origin/main", NULL), main1);
	cr_assert(exists(tprintf("%s/marker", b.repo)));

	/* on: fetched and fast-forwarded, untracked files kept */
	b.req.fetch = true;
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "HEAD", NULL), main2);
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "two");
	cr_assert_str_eq(read_text(tprintf("%s/marker", b.repo)), "mine");

	/* a changed tracked file: fetched, not merged, a warning only */
	sh_ok("echo local > \"$1/f\"", (const char *const[]){b.repo, NULL});
	char *main3 = push_commit("main", "three");
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "origin/main", NULL), main3);
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "HEAD", NULL), main2);
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "local");
	char warn[256];
	cr_assert(sr_repo_prepare_warning(p.run.err, warn, sizeof(warn)), "%s", p.run.err);
	cr_assert_str_eq(warn, tprintf("%s has local changes: not fast-forwarded to "
				       "refs/remotes/origin/main", b.repo));

	/* origin unreachable: an error with SM_AUTO_PULL (a stale tree is not
	 * passed off as fresh), the existing clone without it */
	sh_ok("mv \"$1/remote/acme/api.git\" \"$1/remote/acme/gone.git\"",
	      (const char *const[]){SCRATCH, NULL});
	prepare(&b.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("fatal: '%s/remote/acme/api.git' does not appear to be a git "
					"repository", SCRATCH));
	b.req.fetch = false;
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(p.workdir, b.repo);

	/* a directory that is not a clone is never touched */
	struct reqbuf o;
	make_req(&o, "acme/other", NULL, false);
	sh_ok("mkdir -p \"$1\" && echo keep > \"$1/x\"", (const char *const[]){o.repo, NULL});
	prepare(&o.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("%s exists and is not a git repository", o.repo));
	cr_assert_str_eq(read_text(tprintf("%s/x", o.repo)), "keep");
}

Test(repo, branch_in_main_clone)
{
	need_git();
	make_fixture();
	struct reqbuf b;
	struct prep p;
	make_req(&b, "acme/api@feature/x", NULL, false);
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(p.workdir, b.repo);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/feature/x");
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "--symbolic-full-name", "@{upstream}"),
			 "refs/remotes/origin/feature/x");
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "feature");

	/* no branch: the clone stays where it is */
	struct reqbuf plain;
	make_req(&plain, "acme/api", NULL, true);
	prepare_ok(&plain.req, &p);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/feature/x");

	/* back to an existing local branch */
	struct reqbuf m;
	make_req(&m, "acme/api@main", NULL, false);
	prepare_ok(&m.req, &p);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/main");

	/* a branch pushed after the clone, without SM_AUTO_PULL */
	char *late = push_commit("late/one", "late");
	struct reqbuf l;
	make_req(&l, "acme/api@late/one", NULL, false);
	prepare_ok(&l.req, &p);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/late/one");
	cr_assert_str_eq(git_in(b.repo, "rev-parse", "HEAD", NULL), late);

	/* a branch nobody has */
	struct reqbuf n;
	make_req(&n, "acme/api@nope", NULL, true);
	prepare(&n.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, "branch 'nope' not found on origin");
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/late/one");

	/* local changes that the switch would overwrite: git's refusal */
	sh_ok("echo dirty > \"$1/f\"", (const char *const[]){b.repo, NULL});
	prepare(&b.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, "error: Your local changes to the following files would be "
				"overwritten by checkout:");
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/late/one");
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "dirty");
}

Test(repo, worktrees)
{
	need_git();
	make_fixture();
	struct prep p;
	char *main1 = origin_rev("main");

	/* no branch: smrelay/<name> from origin's default branch, no upstream */
	struct reqbuf w1;
	make_req(&w1, "acme/api", "--worktree=w1", false);
	prepare_ok(&w1.req, &p);
	cr_assert_str_eq(p.workdir, tprintf("%s/worktrees/acme/api/w1", SCRATCH));
	cr_assert_str_eq(head_ref(p.workdir), "refs/heads/smrelay/w1");
	cr_assert_str_eq(git_in(p.workdir, "rev-parse", "HEAD", NULL), main1);
	cr_assert_neq(git_status(p.workdir, "rev-parse", "@{upstream}"), 0);
	cr_assert_str_eq(head_ref(w1.repo), "refs/heads/main");

	/* reuse: the session's work survives a restart of the same name */
	char *work = sh_ok("cd \"$1\" && echo wip > f && git -c user.name=t -c user.email=t@t "
			   "commit -q -am wip && echo scratch > untracked && git rev-parse HEAD",
			   (const char *const[]){p.workdir, NULL});
	prepare_ok(&w1.req, &p);
	cr_assert_str_eq(p.workdir, w1.wt);
	cr_assert_str_eq(git_in(w1.wt, "rev-parse", "HEAD", NULL), work);
	cr_assert_str_eq(read_text(tprintf("%s/untracked", w1.wt)), "scratch");

	/* the directory removed, the branch kept: re-added on that branch */
	git_v(w1.repo, (const char *const[]){"worktree", "remove", "--force", w1.wt, NULL});
	cr_assert_not(exists(w1.wt));
	prepare_ok(&w1.req, &p);
	cr_assert_str_eq(head_ref(w1.wt), "refs/heads/smrelay/w1");
	cr_assert_str_eq(git_in(w1.wt, "rev-parse", "HEAD", NULL), work);

	/* with a branch: checked out there, tracking origin */
	struct reqbuf w2;
	make_req(&w2, "acme/api@feature/x", "--worktree=w2", true);
	prepare_ok(&w2.req, &p);
	cr_assert_str_eq(p.workdir, w2.wt);
	cr_assert_str_eq(head_ref(w2.wt), "refs/heads/feature/x");
	cr_assert_str_eq(git_in(w2.wt, "rev-parse", "--symbolic-full-name", "@{upstream}"),
			 "refs/remotes/origin/feature/x");
	cr_assert_str_eq(read_text(tprintf("%s/f", w2.wt)), "feature");
	/* reused with SM_AUTO_PULL: fast-forwarded */
	char *feat2 = push_commit("feature/x", "feature2");
	prepare_ok(&w2.req, &p);
	cr_assert_str_eq(git_in(w2.wt, "rev-parse", "HEAD", NULL), feat2);

	/* the same branch in a second worktree: git's refusal */
	struct reqbuf w3;
	make_req(&w3, "acme/api@feature/x", "--worktree=w3", false);
	prepare(&w3.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("fatal: 'feature/x' is already checked out at '%s'", w2.wt));
	cr_assert_not(exists(w3.wt));
	/* and a missing one */
	struct reqbuf w4;
	make_req(&w4, "acme/api@nope", "--worktree=w4", false);
	prepare(&w4.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, "branch 'nope' not found on origin");
	cr_assert_not(exists(w4.wt));

	/* origin/HEAD missing (e.g. a clone made by hand): looked up again */
	git_v(w1.repo, (const char *const[]){"remote", "set-head", "origin", "--delete", NULL});
	cr_assert_neq(git_status(w1.repo, "rev-parse", "refs/remotes/origin/HEAD"), 0);
	struct reqbuf w5;
	make_req(&w5, "acme/api", "--worktree=w5", false);
	prepare_ok(&w5.req, &p);
	cr_assert_str_eq(head_ref(w5.wt), "refs/heads/smrelay/w5");
	cr_assert_str_eq(git_in(w5.wt, "rev-parse", "HEAD", NULL), main1);

	/* a directory in the way that is not one of ours */
	struct reqbuf w6;
	make_req(&w6, "acme/api", "--worktree=w6", false);
	sh_ok("mkdir -p \"$1\" && echo keep > \"$1/x\"", (const char *const[]){w6.wt, NULL});
	prepare(&w6.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("%s exists and is not a worktree of %s", w6.wt, w6.repo));
	cr_assert_str_eq(read_text(tprintf("%s/x", w6.wt)), "keep");
}

Test(repo, hostile_branch_is_only_a_word)
{
	need_git();
	make_fixture();
	struct reqbuf b;
	struct prep p;
	make_req(&b, "acme/api@" HOSTILE, NULL, true);
	prepare_ok(&b.req, &p);
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/" HOSTILE);
	cr_assert_str_eq(read_text(tprintf("%s/f", b.repo)), "hostile");
	/* on the command line it is one single-quoted word */
	cr_assert_not_null(strstr(p.line, " 'h/$(touch${IFS}pwned);touch>pwned&'\\''\"!#|`touch${IFS}pwned`' "),
			   "%s", p.line);

	/* in a worktree (the main clone must let go of it first) */
	struct reqbuf m, w;
	make_req(&m, "acme/api@main", NULL, false);
	prepare_ok(&m.req, &p);
	make_req(&w, "acme/api@" HOSTILE, "--worktree=h", false);
	prepare_ok(&w.req, &p);
	cr_assert_str_eq(p.workdir, w.wt);
	cr_assert_str_eq(head_ref(w.wt), "refs/heads/" HOSTILE);

	/* one that only origin has, pushed after the clone: ls-remote and a
	 * fetch refspec built from it */
#define LATE "late/$(touch${IFS}pwned)`touch${IFS}pwned`;x"
	char *late = push_commit(LATE, "late");
	struct reqbuf l;
	make_req(&l, "acme/api@" LATE, "--worktree=late", false);
	prepare_ok(&l.req, &p);
	cr_assert_str_eq(head_ref(l.wt), "refs/heads/" LATE);
	cr_assert_str_eq(git_in(l.wt, "rev-parse", "HEAD", NULL), late);
	cr_assert_str_eq(git_in(l.wt, "rev-parse", "--symbolic-full-name", "@{upstream}"),
			 "refs/remotes/origin/" LATE);
	assert_no_pwned();
}

Test(repo, missing_repository)
{
	need_git();
	make_fixture();
	struct reqbuf b;
	struct prep p;
	make_req(&b, "acme/nope", NULL, true);
	prepare(&b.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_null(p.workdir);
	cr_assert_str_eq(p.err, tprintf("fatal: '%s/remote/acme/nope.git' does not appear to be a git "
					"repository", SCRATCH));
	/* nothing half-made: no clone, no temp dir */
	cr_assert_not(exists(b.repo));
	cr_assert_str_eq(ls_a(tprintf("%s/repos/github.com/acme", SCRATCH)),
			 "");
	/* the same with a worktree requested */
	struct reqbuf w;
	make_req(&w, "acme/nope@main", "--worktree=x", false);
	prepare(&w.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_not_null(strstr(p.err, "does not appear to be a git repository"), "%s", p.err);
	cr_assert_not(exists(w.wt));
}

Test(repo, killed_clone_leaves_no_repository)
{
	need_git();
	make_fixture();
	/* a server that never answers: the clone hangs inside git until the
	 * run is killed, as soon as git has connected */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 4), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	struct reqbuf b;
	make_req_base(&b, tprintf("http://127.0.0.1:%u/", ntohs(a.sin_port)), "acme/api", NULL, false);
	struct run r;
	run_collect((const char *const[]){"/bin/sh", "-c", quoted_line(&b.req), NULL}, NULL, s, &r,
		    true);
	close(s);
	cr_assert_eq(r.status, -1, "the run was not killed: %s", r.err);
	/* SIGKILL runs no cleanup: the hidden temp dir stays, the final path
	 * was never created */
	cr_assert_not(exists(b.repo));
	char *left = ls_a(tprintf("%s/repos/github.com/acme", SCRATCH));
	cr_assert(!strncmp(left, ".smrelay-clone.", 15) && !strchr(left, '\n'), "%s", left);

	/* the next start clones normally */
	struct reqbuf ok;
	struct prep p;
	make_req(&ok, "acme/api", NULL, false);
	prepare_ok(&ok.req, &p);
	cr_assert_str_eq(git_in(ok.repo, "rev-parse", "HEAD", NULL), origin_rev("main"));
}

/* ---- GH_TOKEN ---- */

static void assert_no_token(const char *what, const char *text)
{
	cr_assert(!text || !strstr(text, TOKEN), "the token appears in %s: %s", what, text);
}

Test(repo, token_not_in_command_line)
{
	need_git();
	make_fixture();
	struct reqbuf b;
	struct prep p;
	make_req(&b, "acme/api@feature/x", "--worktree=t", true);
	struct sr_argv a = {0};
	cr_assert_eq(sr_repo_prepare_argv(&b.req, &a, NULL, 0), 0);
	for (size_t i = 0; i < a.n; i++)
		assert_no_token("argv", a.v[i]);
	sr_argv_free(&a);
	/* GH_TOKEN set in the run's environment: the clone works (file://
	 * needs no credentials) and the token shows nowhere */
	prepare(&b.req, TOKEN, &p);
	cr_assert_eq(p.rc, 0, "%s\n%s", p.err, p.run.err);
	assert_no_token("the command line", p.line);
	assert_no_token("stdout", p.run.out);
	assert_no_token("stderr", p.run.err);
	char *grep = sh_ok("grep -rl -- \"$2\" \"$1\" || :", (const char *const[]){SCRATCH, TOKEN, NULL});
	cr_assert_str_empty(grep, "the token was written to %s", grep);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *s)
{
	size_t n = strlen(s);
	char *out = tmem(malloc(4 * ((n + 2) / 3) + 1));
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = B64[(v >> 18) & 63];
		out[o++] = B64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* Serves one request on c: records its Authorization header ("-" when
 * none) as a line on fd out and answers 401 asking for Basic auth. */
static void serve_401(int c, int out)
{
	char req[8192];
	size_t n = 0;
	req[0] = '\0';
	while (n < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t got = read(c, req + n, sizeof(req) - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		req[n] = '\0';
	}
	const char *auth = "-";
	size_t alen = 1;
	for (char *l = req, *e; (e = strstr(l, "\r\n")); l = e + 2)
		if (!strncmp(l, "Authorization: ", 15)) {
			auth = l;
			alen = (size_t)(e - l);
		}
	if (write(out, auth, alen) < 0 || write(out, "\n", 1) < 0)
		_exit(1);
	static const char resp[] = "HTTP/1.1 401 Unauthorized\r\n"
				   "WWW-Authenticate: Basic realm=\"smrelay-test\"\r\n"
				   "Content-Type: text/plain\r\n"
				   "Content-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	if (write(c, resp, sizeof(resp) - 1) < 0)
		_exit(1);
	close(c);
}

/* An HTTP server on 127.0.0.1 in a child (killed by teardown) that
 * answers every request with 401. Returns the read end of the pipe the
 * Authorization headers arrive on (non-blocking). */
static int http_401_server(unsigned *port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 16), 0);
	socklen_t len = sizeof(a);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	SERVER = fork();
	cr_assert_neq(SERVER, -1);
	if (SERVER == 0) {
		close(p[0]);
		alarm((unsigned)(GUARD_S * 2)); /* outlives no test run */
		for (;;) {
			int c = accept(s, NULL, NULL);
			if (c < 0)
				_exit(0);
			serve_401(c, p[1]);
		}
	}
	close(s);
	close(p[1]);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	return p[0];
}

/* What the server recorded since the last call. */
static char *recorded(int fd)
{
	struct buf b = {0};
	char chunk[1024];
	ssize_t n;
	buf_add(&b, "", 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	return tmem(b.p);
}

Test(repo, token_reaches_git_only_through_the_helper)
{
	need_git();
	make_fixture();
	unsigned port;
	int fd = http_401_server(&port);
	struct reqbuf b;
	struct prep p;
	make_req_base(&b, tprintf("http://127.0.0.1:%u", port), "acme/api", NULL, false);
	cr_assert_str_eq(b.url, tprintf("http://127.0.0.1:%u/acme/api.git", port));

	/* no token: no prompt, no hang, git's own message */
	double t0 = now_s();
	prepare(&b.req, NULL, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("fatal: could not read Username for 'http://127.0.0.1:%u': "
					"terminal prompts disabled", port));
	cr_assert_lt(now_s() - t0, 20.0);
	cr_assert_str_eq(recorded(fd), "-\n");

	/* with GH_TOKEN: git sends x-access-token:<token> and reports the
	 * refusal without it */
	prepare(&b.req, TOKEN, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(p.err, tprintf("fatal: Authentication failed for "
					"'http://127.0.0.1:%u/acme/api.git/'", port));
	char *want = tprintf("Authorization: Basic %s\n", base64("x-access-token:" TOKEN));
	cr_assert_str_eq(recorded(fd), tprintf("-\n%s", want));
	assert_no_token("the command line", p.line);
	assert_no_token("stdout", p.run.out);
	assert_no_token("stderr", p.run.err);
	assert_no_token("the message", p.err);
	cr_assert_not(exists(b.repo));
	cr_assert_str_eq(ls_a(tprintf("%s/repos/github.com/acme", SCRATCH)),
			 "");

	/* a helper configured on the VM is replaced while GH_TOKEN is set */
	sh_ok("git config --global credential.helper store && "
	      "printf 'http://someone:wrong@127.0.0.1:%s\\n' \"$1\" > \"$HOME/.git-credentials\"",
	      (const char *const[]){tprintf("%u", port), NULL});
	prepare(&b.req, TOKEN, &p);
	cr_assert_eq(p.rc, -EIO);
	cr_assert_str_eq(recorded(fd), tprintf("-\n%s", want));
	close(fd);
}

/* ---- over SSH ---- */

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)data;
	(void)msg;
	DRV_ERR = code;
}

/* Runs line on an exec channel of the test sshd; copies of its output. */
static void ssh_run(const char *line, struct run *r)
{
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, line, &ch), 0);
	sr_ssh_driver_kick(DRV);
	struct sr_ssh_exec_result x;
	double end = now_s() + GUARD_S;
	int rc;
	while ((rc = sr_ssh_exec_result(ch, &x)) == -EAGAIN) {
		cr_assert_eq(DRV_ERR, 0, "connection failed: %s", sr_ssh_error(S));
		cr_assert(now_s() < end, "exec timed out");
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
	cr_assert_eq(rc, 0, "exec failed: %s", sr_ssh_chan_error(ch));
	r->status = x.exit.status;
	r->out = tmem(strdup(x.out));
	r->err = tmem(strdup(x.err));
	sr_ssh_chan_close(ch);
}

Test(repo, prepare_over_ssh)
{
	need_git();
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	make_fixture();
	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	cr_assert_eq(sr_loop_new(&L), 0);
	struct sr_ssh_opts o = sshd_client_opts(&D);
	char err[512] = "";
	cr_assert_eq(sr_ssh_connect(&o, &S, err, sizeof(err)), 0, "connect: %s", err);
	cr_assert_eq(sr_ssh_driver_new(L, S, 0, on_drv_error, NULL, &DRV), 0);

	struct reqbuf b;
	make_req(&b, "acme/api@" HOSTILE, "--worktree=over-ssh", true);
	struct run r;
	ssh_run(quoted_line(&b.req), &r);
	char *wd = NULL;
	int rc = sr_repo_prepare_result(r.status, r.out, r.err, &wd, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s\nstderr: %s", err, r.err);
	tmem(wd);
	cr_assert_str_eq(wd, b.wt);
	cr_assert_str_eq(head_ref(b.wt), "refs/heads/" HOSTILE);
	cr_assert_str_eq(read_text(tprintf("%s/f", b.wt)), "hostile");
	cr_assert_str_eq(head_ref(b.repo), "refs/heads/main");

	/* a failure comes back the same way */
	struct reqbuf n;
	make_req(&n, "acme/api@nope", NULL, false);
	ssh_run(quoted_line(&n.req), &r);
	cr_assert_eq(sr_repo_prepare_result(r.status, r.out, r.err, &wd, err, sizeof(err)), -EIO);
	cr_assert_str_eq(err, "branch 'nope' not found on origin");
	assert_no_pwned();
}
