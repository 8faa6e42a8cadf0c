/* test_container.c — sr_container argv builders, and tests/tools/fake-podman,
 * the runtime shim the tests (and the relay's own integration tests) use
 * in place of podman.
 *
 * container:   exact argv per runtime and function; every bad field
 *              rejected with a message naming it (escaped); hostile but
 *              valid values proven inert by running the quoted line through
 *              the shells with runtime_bin set to an argv printer; the whole
 *              flow (create, envwrap'ed exec with secrets, attach, running,
 *              holder in the container, remove) against fake-podman.
 * fake_podman: the shim's own behaviour: run/exec/ps/rm/inspect, exit
 *              statuses and messages, the environment and path mapping of
 *              exec, rm killing a daemonized tmux server.
 *
 * Every test has its own directory (and FAKE_PODMAN_ROOT inside it); .fini
 * removes every fake container, then the directory. GUARD_S only guards
 * hangs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_container.h"
#include "sr_envwrap.h"
#include "sr_holder.h"
#include "test_support.h"

#define GUARD_S 20.0
#define FAKE SR_TOOLS_DIR "/fake-podman"

static char DIR_[] = "/tmp/sr_container_XXXXXX";
static int HAVE_DIR;
static char ROOT[128]; /* FAKE_PODMAN_ROOT */
static char EMPTY[128]; /* cwd for the shell runs: must stay empty */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	nanosleep(&ts, NULL);
}


/* fake-podman ARGS... (NULL-terminated) with no stdin. */
#define FAKE_RUN(...) ts_run_argv((const char *const[]){FAKE, __VA_ARGS__, NULL}, NULL, NULL, 0)

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

/* 1 while pid exists and is not a zombie (nothing may reap orphans here). */
static int proc_alive(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may hold spaces */
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* 1 when some live process belongs to the fake container with this id
 * (FAKE_PODMAN_ID in its environment: unlike names, ids are unique across
 * the tests running in parallel). */
static int marked_process_exists(const char *cid)
{
	char want[128];
	snprintf(want, sizeof(want), "FAKE_PODMAN_ID=%s", cid);
	DIR *d = opendir("/proc");
	cr_assert_not_null(d);
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		static char env[1 << 16];
		size_t n = fread(env, 1, sizeof(env) - 1, f);
		fclose(f);
		env[n] = '\0';
		for (size_t o = 0; o < n; o += strlen(env + o) + 1)
			if (strcmp(env + o, want) == 0 && proc_alive(pid))
				found = 1;
	}
	closedir(d);
	return found;
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(DIR_));
	HAVE_DIR = 1;
	snprintf(ROOT, sizeof(ROOT), "%s/root", DIR_);
	/* first: teardown's `rm -f -a` must never reach the default root */
	cr_assert_eq(setenv("FAKE_PODMAN_ROOT", ROOT, 1), 0);
	snprintf(EMPTY, sizeof(EMPTY), "%s/empty", DIR_);
	cr_assert_eq(mkdir(EMPTY, 0700), 0);
	/* tmux sockets of the fake containers' servers stay in DIR_ */
	cr_assert_eq(setenv("TMUX_TMPDIR", DIR_, 1), 0);
	cr_assert_eq(setenv("FAKE_PODMAN_PASSENV", "TMUX_TMPDIR", 1), 0);
}

static void teardown(void)
{
	if (!HAVE_DIR)
		return;
	struct ts_run r;
	/* Every container this test made, and their processes. */
	const char *root = getenv("FAKE_PODMAN_ROOT");
	if (root && strcmp(root, ROOT) == 0) {
		r = FAKE_RUN("rm", "-f", "-a");
		ts_run_free(&r);
	}
	r = ts_run_argv((const char *const[]){"/bin/rm", "-rf", "--", DIR_, NULL}, NULL, NULL, 0);
	ts_run_free(&r);
	HAVE_DIR = 0;
}

TestSuite(container, .init = setup, .fini = teardown);
TestSuite(fake_podman, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void expect_argv(const struct sr_argv *a, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	for (size_t i = 0; i < n && i < a->n; i++)
		cr_assert_str_eq(a->v[i], want[i], "argv[%zu]", i);
	cr_assert_eq(a->n, n, "argc %zu, want %zu", a->n, n);
	cr_assert_null(a->v[n]);
}

static void make_inner(struct sr_argv *a, const char *const *words)
{
	*a = (struct sr_argv){0};
	cr_assert_eq(sr_argv_push_list(a, words), 0);
}

static struct sr_container_spec podman_spec(void)
{
	return (struct sr_container_spec){
		.runtime = SR_RUNTIME_PODMAN,
		.session_id = "abc-1",
		.image = "ghcr.io/acme/agent:1.2@sha256:00ff",
		.workdir = "/srv/work/acme",
	};
}

/* ---- pure builders ---- */

Test(container, name_and_workspace)
{
	char buf[SR_CONTAINER_NAME_MAX];
	cr_assert_eq(sr_container_name("abc_1-Z", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "smrelay-abc_1-Z");
	char id64[65];
	memset(id64, 'a', 64);
	id64[64] = '\0';
	cr_assert_eq(sr_container_name(id64, buf, sizeof(buf)), 0);
	cr_assert_eq(strlen(buf), SR_CONTAINER_NAME_MAX - 1);
	cr_assert_eq(sr_container_name(id64, buf, sizeof(buf) - 1), -ERANGE);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(sr_container_name("a", buf, 9), -ERANGE);
	cr_assert_eq(sr_container_name("a", buf, 10), 0);
	cr_assert_eq(sr_container_name("a b", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sr_container_name("-a", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sr_container_name(NULL, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sr_container_name("a", NULL, 10), -EINVAL);

	struct sr_container_spec s = podman_spec();
	cr_assert_str_eq(sr_container_workspace(&s), "/workspace");
	s.runtime = SR_RUNTIME_DOCKER;
	cr_assert_str_eq(sr_container_workspace(&s), "/workspace");
	s.runtime = SR_RUNTIME_NONE;
	cr_assert_eq(sr_container_workspace(&s), s.workdir);
	cr_assert_null(sr_container_workspace(NULL));
	s.runtime = (enum sr_runtime)42;
	cr_assert_null(sr_container_workspace(&s));
}

Test(container, create_argv)
{
	struct sr_container_spec s = podman_spec();
	struct sr_argv a = {0};
	char err[256] = "";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "run", "-d", "--init", "--name", "smrelay-abc-1",
					      "--label", "smrelay.session=abc-1", "-v",
					      "/srv/work/acme:/workspace", "-w", "/workspace",
					      "ghcr.io/acme/agent:1.2@sha256:00ff", "sleep", "infinity", NULL});
	sr_argv_free(&a);

	s.runtime = SR_RUNTIME_DOCKER;
	s.network = "smrelay-net.1";
	s.memory = "4g";
	s.cpus = "1.5";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"docker", "run", "-d", "--init", "--name", "smrelay-abc-1",
					      "--label", "smrelay.session=abc-1", "--network",
					      "smrelay-net.1", "--memory", "4g", "--cpus", "1.5", "-v",
					      "/srv/work/acme:/workspace", "-w", "/workspace",
					      "ghcr.io/acme/agent:1.2@sha256:00ff", "sleep", "infinity", NULL});
	sr_argv_free(&a);

	/* a worktree: its main .git mounted at the same path */
	s = podman_spec();
	s.git_dir = "/srv/repos/github.com/acme/api/.git";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "run", "-d", "--init", "--name", "smrelay-abc-1",
					      "--label", "smrelay.session=abc-1", "-v",
					      "/srv/work/acme:/workspace", "-v",
					      "/srv/repos/github.com/acme/api/.git:/srv/repos/github.com/acme/api/.git",
					      "-w", "/workspace", "ghcr.io/acme/agent:1.2@sha256:00ff", "sleep",
					      "infinity", NULL});
	sr_argv_free(&a);
	s.git_dir = "/srv/a:b/.git";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "contains ':'"), "%s", err);

	/* each optional field on its own, and runtime_bin */
	s = podman_spec();
	s.runtime_bin = "/opt/bin/podman-remote";
	s.cpus = "2";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"/opt/bin/podman-remote", "run", "-d", "--init", "--name",
					      "smrelay-abc-1", "--label", "smrelay.session=abc-1", "--cpus",
					      "2", "-v", "/srv/work/acme:/workspace", "-w", "/workspace",
					      "ghcr.io/acme/agent:1.2@sha256:00ff", "sleep", "infinity", NULL});
	sr_argv_free(&a);
	s = podman_spec();
	s.memory = "512M";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(a.v[8], "--memory");
	cr_assert_str_eq(a.v[9], "512M");
	cr_assert_str_eq(a.v[10], "-v");
	sr_argv_free(&a);
}

Test(container, exec_attach_running_remove_argv)
{
	struct sr_container_spec s = podman_spec();
	const char *const names[] = {"ANTHROPIC_API_KEY", "GH_TOKEN", NULL};
	s.env_names = names;
	struct sr_argv inner, a = {0};
	make_inner(&inner, (const char *const[]){"tmux", "-L", "smrelay-abc-1", "has-session", NULL});
	char err[256] = "";

	cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "exec", "--env", "ANTHROPIC_API_KEY", "--env",
					      "GH_TOKEN", "smrelay-abc-1", "tmux", "-L", "smrelay-abc-1",
					      "has-session", NULL});
	sr_argv_free(&a);
	cr_assert_eq(sr_container_exec_argv(&s, &inner, 0, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "exec", "smrelay-abc-1", "tmux", "-L",
					      "smrelay-abc-1", "has-session", NULL});
	sr_argv_free(&a);
	s.env_names = NULL;
	s.runtime = SR_RUNTIME_DOCKER;
	cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"docker", "exec", "smrelay-abc-1", "tmux", "-L",
					      "smrelay-abc-1", "has-session", NULL});
	sr_argv_free(&a);

	cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"docker", "exec", "-it", "--env", "TERM=xterm-256color",
					      "smrelay-abc-1", "tmux", "-L", "smrelay-abc-1",
					      "has-session", NULL});
	sr_argv_free(&a);
	s.runtime = SR_RUNTIME_PODMAN;
	s.term = "screen.xterm-256color+x";
	cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "exec", "-it", "--env",
					      "TERM=screen.xterm-256color+x", "smrelay-abc-1", "tmux",
					      "-L", "smrelay-abc-1", "has-session", NULL});
	sr_argv_free(&a);

	cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"podman", "ps", "-q", "--filter",
					      "label=smrelay.session=abc-1", NULL});
	sr_argv_free(&a);
	s.runtime = SR_RUNTIME_DOCKER;
	cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"docker", "ps", "-q", "--filter",
					      "label=smrelay.session=abc-1", NULL});
	sr_argv_free(&a);

	cr_assert_eq(sr_container_remove_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"docker", "rm", "-f", "smrelay-abc-1", NULL});
	sr_argv_free(&a);
	s.runtime = SR_RUNTIME_PODMAN;
	s.runtime_bin = "/x/fake";
	cr_assert_eq(sr_container_remove_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"/x/fake", "rm", "-f", "smrelay-abc-1", NULL});
	sr_argv_free(&a);

	/* no inner command */
	struct sr_argv none = {0};
	cr_assert_eq(sr_container_exec_argv(&s, &none, 0, &a, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "no command"), "%s", err);
	cr_assert_null(a.v);
	cr_assert_eq(sr_container_attach_argv(&s, NULL, &a, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_container_remove_argv(&s, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_container_remove_argv(NULL, &a, err, sizeof(err)), -EINVAL);
	sr_argv_free(&inner);
}

Test(container, runtime_none)
{
	struct sr_container_spec s = {
		.runtime = SR_RUNTIME_NONE,
		.session_id = "abc",
		.workdir = "/home/u/proj",
		/* ignored with NONE, even when they would be invalid */
		.image = "bad image;",
		.network = "-x",
		.env_names = (const char *const[]){"BAD-NAME", NULL},
	};
	struct sr_argv a = {(char **)1, 5, 6}, inner;
	char err[256] = "";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a.n, 0);
	cr_assert_null(a.v);
	cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a.n, 0);
	cr_assert_null(a.v);
	cr_assert_eq(sr_container_remove_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a.n, 0);
	cr_assert_null(a.v);

	make_inner(&inner, (const char *const[]){"tmux", "-L", "smrelay-abc", "attach-session", NULL});
	cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"tmux", "-L", "smrelay-abc", "attach-session", NULL});
	cr_assert_neq(a.v, inner.v); /* a copy */
	sr_argv_free(&a);
	cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), 0, "%s", err);
	expect_argv(&a, (const char *const[]){"tmux", "-L", "smrelay-abc", "attach-session", NULL});
	sr_argv_free(&a);

	/* session id and workdir are still checked */
	s.session_id = "../x";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "session id"), "%s", err);
	cr_assert_eq(sr_container_exec_argv(&s, &inner, 0, &a, err, sizeof(err)), -EINVAL);
	s.session_id = "abc";
	s.workdir = "rel/dir";
	cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "workdir"), "%s", err);
	cr_assert_null(a.v);
	sr_argv_free(&inner);
}

/* One bad field: every function must fail the same way, with out empty
 * and a printable message containing `in_err`. */
struct bad_case {
	const char *what;
	struct sr_container_spec spec;
	const char *in_err;
};

static void check_rejected(const struct bad_case *c)
{
	struct sr_argv inner;
	make_inner(&inner, (const char *const[]){"true", NULL});
	for (int f = 0; f < 5; f++) {
		struct sr_argv a = {(char **)1, 3, 4};
		char err[512] = "";
		int rc;
		switch (f) {
		case 0: rc = sr_container_create_argv(&c->spec, &a, err, sizeof(err)); break;
		case 1: rc = sr_container_exec_argv(&c->spec, &inner, 1, &a, err, sizeof(err)); break;
		case 2: rc = sr_container_attach_argv(&c->spec, &inner, &a, err, sizeof(err)); break;
		case 3: rc = sr_container_running_argv(&c->spec, &a, err, sizeof(err)); break;
		default: rc = sr_container_remove_argv(&c->spec, &a, err, sizeof(err)); break;
		}
		cr_assert_eq(rc, -EINVAL, "%s (function %d): rc %d", c->what, f, rc);
		cr_assert_null(a.v, "%s", c->what);
		cr_assert_eq(a.n, 0, "%s", c->what);
		cr_assert_not_null(strstr(err, c->in_err), "%s (function %d): '%s' not in: %s", c->what,
				   f, c->in_err, err);
		for (const char *p = err; *p; p++)
			cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
				  "%s: raw byte 0x%02x in the message", c->what, (unsigned char)*p);
		/* err may be NULL */
		struct sr_argv b = {0};
		switch (f) {
		case 0: rc = sr_container_create_argv(&c->spec, &b, NULL, 0); break;
		case 1: rc = sr_container_exec_argv(&c->spec, &inner, 1, &b, NULL, 0); break;
		case 2: rc = sr_container_attach_argv(&c->spec, &inner, &b, NULL, 0); break;
		case 3: rc = sr_container_running_argv(&c->spec, &b, NULL, 0); break;
		default: rc = sr_container_remove_argv(&c->spec, &b, NULL, 0); break;
		}
		cr_assert_eq(rc, -EINVAL);
		cr_assert_null(b.v);
	}
	sr_argv_free(&inner);
}

/* File scope: a compound literal inside BAD's block would die with it. */
static const char *const EN_DASH[] = {"GOOD", "BAD-NAME", NULL};
static const char *const EN_DIGIT[] = {"1X", NULL};
static const char *const EN_EQ[] = {"A=B", NULL};
static const char *const EN_EMPTY[] = {"", NULL};

Test(container, bad_fields_rejected)
{
	char long_image[300];
	memset(long_image, 'a', 256);
	long_image[256] = '\0';
	const struct sr_container_spec base = podman_spec();
	struct bad_case cases[64];
	size_t n = 0;
#define BAD(field, value, msg)                                                                      \
	do {                                                                                        \
		cases[n] = (struct bad_case){#field "=" #value, base, msg};                         \
		cases[n].spec.field = value;                                                        \
		n++;                                                                                \
	} while (0)
	BAD(session_id, NULL, "session id is missing");
	BAD(session_id, "a b", "session id 'a b'");
	BAD(session_id, "../x", "session id '../x'");
	BAD(session_id, "-x", "session id '-x'");
	BAD(session_id, "a\nb", "session id 'a\\x0ab'");
	BAD(session_id, "$(id)", "session id '$(id)'");
	BAD(image, NULL, "container image is missing");
	BAD(image, "", "container image is empty");
	BAD(image, "-img", "must not start with '-'");
	BAD(image, "img;rm", "contains ';'");
	BAD(image, "img name", "contains ' '");
	BAD(image, "$(id)", "contains '$'");
	BAD(image, "a`id`", "contains '`'");
	BAD(image, "a\nb", "container image 'a\\x0ab' contains '\\x0a'");
	BAD(image, "a'b", "contains '''");
	BAD(image, long_image, "longer than 255");
	BAD(network, "-host", "container network '-host' must not start with '-'");
	BAD(network, "a b", "container network 'a b' contains ' '");
	BAD(network, "container:x", "contains ':'");
	BAD(network, "a/b", "contains '/'");
	BAD(network, "", "container network is empty");
	BAD(memory, "4gb", "memory limit '4gb'");
	BAD(memory, "g", "memory limit 'g'");
	BAD(memory, "", "memory limit ''");
	BAD(memory, "-1", "memory limit '-1'");
	BAD(memory, "1.5g", "memory limit '1.5g'");
	BAD(memory, "4 g", "memory limit '4 g'");
	BAD(cpus, "", "cpus ''");
	BAD(cpus, ".", "cpus '.'");
	BAD(cpus, "1.2.3", "cpus '1.2.3'");
	BAD(cpus, "-1", "cpus '-1'");
	BAD(cpus, "1,5", "cpus '1,5'");
	BAD(cpus, "2c", "cpus '2c'");
	BAD(workdir, NULL, "workdir is missing");
	BAD(workdir, "", "workdir is empty");
	BAD(workdir, "rel/dir", "not an absolute path");
	BAD(workdir, "-rf", "'-rf' is not an absolute path");
	BAD(workdir, "/a/../etc", "'..' component");
	BAD(workdir, "/a/..", "'..' component");
	BAD(workdir, "/a,b", "contains ','");
	BAD(workdir, "/a:b", "contains ':'");
	BAD(workdir, "/a:/etc:rw", "contains ':'");
	BAD(workdir, "/a\nb", "'/a\\x0ab' contains a control character");
	BAD(workdir, "/a\x1b[2Jb", "\\x1b[2Jb");
	BAD(term, "", "container term is empty");
	BAD(term, "xterm 256", "contains ' '");
	BAD(term, "x;y", "contains ';'");
	BAD(runtime_bin, "", "runtime program is empty");
	BAD(runtime_bin, "-podman", "must not start with '-'");
	BAD(runtime_bin, "%1", "must not start with '%'");
	BAD(runtime_bin, "/bin/po\ndman", "'/bin/po\\x0adman' contains a control character");
	BAD(env_names, EN_DASH, "variable name 'BAD-NAME'");
	BAD(env_names, EN_DIGIT, "'1X'");
	BAD(env_names, EN_EQ, "'A=B'");
	BAD(env_names, EN_EMPTY, "name ''");
	BAD(runtime, (enum sr_runtime)7, "unknown container runtime 7");
#undef BAD
	cr_assert_leq(n, sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < n; i++)
		check_rejected(&cases[i]);

	/* the limits themselves are accepted */
	struct sr_container_spec s = base;
	long_image[255] = '\0';
	s.image = long_image;
	s.memory = "1";
	s.cpus = ".5";
	s.network = "a";
	s.term = "x";
	struct sr_argv a = {0};
	char err[256] = "";
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	sr_argv_free(&a);
}

/* ---- hostile but valid values are inert ---- */

static const char *show(const char *s)
{
	static char buf[160];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o < sizeof(buf) - 8; p++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
				      *p >= 0x20 && *p < 0x7f ? "%c" : "\\x%02x", *p);
	buf[o] = '\0';
	return buf;
}

/* Quotes a, runs `shell -c LINE` in EMPTY with a's argv[0] being the argv
 * printer, and checks the printer received a->v[1..] exactly and that
 * nothing else ran (EMPTY stays empty). */
static void assert_inert(const struct sr_argv *a, const char *what)
{
	static const char *const shells[] = {"/bin/sh", "/bin/dash", "/bin/bash", NULL};
	char *line = NULL, err[256] = "";
	cr_assert_eq(sr_argv_quote(a, &line, err, sizeof(err)), 0, "%s: %s", what, err);
	char *want = NULL;
	size_t wantlen = 0;
	ts_append(&want, &wantlen, "", 0);
	for (size_t i = 1; i < a->n; i++)
		ts_append(&want, &wantlen, a->v[i], strlen(a->v[i]) + 1);
	int tried = 0;
	for (size_t s = 0; shells[s]; s++) {
		if (access(shells[s], X_OK) != 0)
			continue;
		tried++;
		struct ts_run r = ts_run_argv((const char *const[]){shells[s], "-c", line, NULL}, EMPTY, NULL, 0);
		cr_assert_eq(r.status, 0, "%s, %s: status %d: %s\n%s", what, shells[s], r.status, r.err,
			     line);
		cr_assert_eq(r.outlen, wantlen, "%s, %s: %zu bytes, want %zu\n%s", what, shells[s],
			     r.outlen, wantlen, line);
		for (size_t i = 0, o = 0; i + 1 < a->n; i++) {
			cr_assert_str_eq(r.out + o, a->v[i + 1], "%s, %s: argv[%zu] (%s)", what, shells[s],
					 i + 1, show(a->v[i + 1]));
			o += strlen(a->v[i + 1]) + 1;
		}
		cr_assert_eq(count_entries(EMPTY), 0, "%s, %s: something ran", what, shells[s]);
		ts_run_free(&r);
	}
	cr_assert_geq(tried, 2);
	free(want);
	free(line);
}

Test(container, hostile_values_inert)
{
	/* runtime_bin in a directory whose name needs quoting too */
	char bindir[256], printer[300];
	snprintf(bindir, sizeof(bindir), "%s/bin dir 'x' $(touch p)", DIR_);
	snprintf(printer, sizeof(printer), "%s/argv-printer", bindir);
	cr_assert_eq(mkdir(bindir, 0700), 0);
	FILE *f = fopen(printer, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\nprintf '%s\\0' \"$@\"\n", f);
	fclose(f);
	cr_assert_eq(chmod(printer, 0700), 0);

	static const char *const workdirs[] = {
		"/tmp/a dir/with 'single' and \"double\" quotes",
		"/tmp/$(touch pwned1)/`touch pwned2`/${HOME}",
		"/tmp/x;touch pwned3 && touch pwned4 | cat > pwned5 &",
		"/tmp/-rf/--/*/?/[a]/~/#/!/\\/=",
		"/tmp/h\xc3\xa9/\xe2\x9c\x93/...",
		"/workspace/.hidden/..x/x../...",
		"/",
	};
	static const char *const inner_words[] = {
		"sh", "-c", "echo $(touch pwned6); touch pwned7", "a\nb", "'", "\"", "`touch pwned8`",
		";", "-rf", "--", "", "/workspace", "*", "$HOME", "\\", "\x01\x7f\xff", NULL,
	};
	struct sr_argv inner;
	make_inner(&inner, inner_words);
	const char *const names[] = {"A", "B_2", NULL};

	for (int rt = 0; rt < 2; rt++) {
		for (size_t w = 0; w < sizeof(workdirs) / sizeof(workdirs[0]); w++) {
			struct sr_container_spec s = {
				.runtime = rt ? SR_RUNTIME_DOCKER : SR_RUNTIME_PODMAN,
				.runtime_bin = printer,
				.session_id = "Zz_9-",
				.image = "registry.example:5000/a/b:tag@sha256:abc",
				.network = "net.work_1-",
				.memory = "1g",
				.cpus = "0.5",
				.workdir = workdirs[w],
				.env_names = names,
				.term = "xterm+256.color_x-y",
			};
			char what[400];
			struct sr_argv a = {0};
			char err[256] = "";
			snprintf(what, sizeof(what), "create %s", show(workdirs[w]));
			cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
			assert_inert(&a, what);
			sr_argv_free(&a);
			if (w > 0)
				continue; /* the workdir only reaches create */

			cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &a, err, sizeof(err)), 0, "%s",
				     err);
			assert_inert(&a, "exec");
			/* wrapped for secrets, as the relay runs it */
			struct sr_argv wrapped = {0};
			cr_assert_eq(sr_envwrap_argv(&a, &wrapped), 0);
			sr_argv_free(&a);
			char *line = NULL;
			cr_assert_eq(sr_argv_quote(&wrapped, &line, err, sizeof(err)), 0);
			struct ts_run r = ts_run_argv((const char *const[]){"/bin/sh", "-c", line, NULL}, EMPTY,
						"A=$(touch pwned9)\nB_2=`x`\n\n", 27);
			cr_assert_eq(r.status, 0, "%s", r.err);
			cr_assert_eq(count_entries(EMPTY), 0);
			ts_run_free(&r);
			free(line);
			sr_argv_free(&wrapped);

			cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), 0, "%s",
				     err);
			assert_inert(&a, "attach");
			sr_argv_free(&a);
			cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
			assert_inert(&a, "running");
			sr_argv_free(&a);
			cr_assert_eq(sr_container_remove_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
			assert_inert(&a, "remove");
			sr_argv_free(&a);
		}
	}
	sr_argv_free(&inner);
}

/* ---- the whole flow against fake-podman ---- */

static int tmux_available(void)
{
	return access("/usr/bin/tmux", X_OK) == 0 || access("/usr/local/bin/tmux", X_OK) == 0 ||
	       access("/bin/tmux", X_OK) == 0;
}

/* Quotes a and runs it as an exec channel would: `/bin/sh -c LINE`. */
static struct ts_run run_quoted(const struct sr_argv *a, const char *in, size_t inlen)
{
	char *line = NULL, err[256] = "";
	cr_assert_eq(sr_argv_quote(a, &line, err, sizeof(err)), 0, "%s", err);
	struct ts_run r = ts_run_argv((const char *const[]){"/bin/sh", "-c", line, NULL}, EMPTY, in, inlen);
	free(line);
	return r;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

Test(container, flow_with_fake_podman)
{
	/* A workdir that needs quoting everywhere it goes. */
	char work[256];
	snprintf(work, sizeof(work), "%s/work 'dir' $(x) `y`", DIR_);
	cr_assert_eq(mkdir(work, 0700), 0);
	char id[32];
	snprintf(id, sizeof(id), "flow-%ld", (long)getpid());
	const char *const names[] = {"SR_TEST_SECRET", "SR_TEST_EMPTY", "SR_TEST_UNSENT", NULL};
	struct sr_container_spec s = {
		.runtime = SR_RUNTIME_PODMAN,
		.runtime_bin = FAKE,
		.session_id = id,
		.image = "docker.io/library/alpine:3",
		.network = "none",
		.memory = "1g",
		.cpus = "1.5",
		.workdir = work,
		.env_names = names,
	};
	/* In the relay's environment but not forwarded: must not arrive. */
	cr_assert_eq(setenv("SR_TEST_OTHER", "leaked", 1), 0);
	char err[256] = "";
	struct sr_argv a = {0};

	/* create */
	cr_assert_eq(sr_container_create_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	struct ts_run r = run_quoted(&a, NULL, 0);
	sr_argv_free(&a);
	cr_assert_eq(r.status, 0, "create: %s", r.err);
	cr_assert_eq(r.outlen, 65, "%s", r.out);
	cr_assert(is_hex(r.out, 64) && r.out[64] == '\n', "%s", r.out);
	char cid[65];
	memcpy(cid, r.out, 64);
	cid[64] = '\0';
	ts_run_free(&r);

	/* running prints the short id */
	cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	r = run_quoted(&a, NULL, 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.outlen, 13, "%s", r.out);
	cr_assert_eq(memcmp(r.out, cid, 12), 0);
	ts_run_free(&r);
	sr_argv_free(&a);

	/* exec with secrets through envwrap: the values arrive, the line
	 * carries none, unforwarded variables stay out, cwd is the mount */
	static const char secret[] = "sk-$(touch pwned) `id` 'q' \"d\" ;|&";
	const struct sr_env env[] = {{"SR_TEST_SECRET", secret}, {"SR_TEST_EMPTY", ""}, {NULL, NULL}};
	struct sr_argv inner, ex = {0}, wrapped = {0};
	make_inner(&inner,
		   (const char *const[]){"sh", "-c",
					 "pwd; printf '%s|%s|%s|%s|%s\\n' \"$SR_TEST_SECRET\" "
					 "\"${SR_TEST_EMPTY-unset}\" \"${SR_TEST_UNSENT-unset}\" "
					 "\"${SR_TEST_OTHER-unset}\" \"$1\"",
					 "sh", "/workspace/sub", NULL});
	cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &ex, err, sizeof(err)), 0, "%s", err);
	sr_argv_free(&inner);
	cr_assert_eq(sr_envwrap_argv(&ex, &wrapped), 0);
	sr_argv_free(&ex);
	char *line = NULL;
	cr_assert_eq(sr_argv_quote(&wrapped, &line, err, sizeof(err)), 0);
	cr_assert_null(strstr(line, "sk-"), "%s", line);
	free(line);
	char *payload;
	size_t plen;
	cr_assert_eq(sr_envwrap_payload(env, &payload, &plen, err, sizeof(err)), 0, "%s", err);
	r = run_quoted(&wrapped, payload, plen);
	sr_envwrap_payload_free(payload, plen);
	sr_argv_free(&wrapped);
	cr_assert_eq(r.status, 0, "exec: %s", r.err);
	char want[1024];
	snprintf(want, sizeof(want), "%s\n%s||unset|unset|%s/sub\n", work, secret, work);
	cr_assert_str_eq(r.out, want);
	cr_assert_eq(count_entries(EMPTY), 0);
	ts_run_free(&r);

	/* attach: TERM set, exit status passed through */
	make_inner(&inner, (const char *const[]){"sh", "-c", "printf %s \"$TERM\"; exit 3", NULL});
	cr_assert_eq(sr_container_attach_argv(&s, &inner, &a, err, sizeof(err)), 0, "%s", err);
	sr_argv_free(&inner);
	r = run_quoted(&a, NULL, 0);
	sr_argv_free(&a);
	cr_assert_eq(r.status, 3, "%s", r.err);
	cr_assert_str_eq(r.out, "xterm-256color");
	ts_run_free(&r);

	/* the holder inside the container, started in sr_container_workspace */
	long tmux_pid = 0;
	if (tmux_available()) {
		const char *const prog[] = {"sh", "-c", "pwd > started; exec sleep 300", NULL};
		cr_assert_eq(sr_holder_start_argv(id, 80, 24, sr_container_workspace(&s), prog, &inner), 0);
		cr_assert_eq(sr_container_exec_argv(&s, &inner, 1, &a, err, sizeof(err)), 0, "%s", err);
		sr_argv_free(&inner);
		r = run_quoted(&a, NULL, 0);
		sr_argv_free(&a);
		cr_assert_eq(r.status, 0, "holder start: %s", r.err);
		ts_run_free(&r);

		cr_assert_eq(sr_holder_alive_argv(id, &inner), 0);
		cr_assert_eq(sr_container_exec_argv(&s, &inner, 0, &a, err, sizeof(err)), 0, "%s", err);
		sr_argv_free(&inner);
		r = run_quoted(&a, NULL, 0);
		cr_assert_eq(r.status, 0, "holder alive: %s", r.err);
		ts_run_free(&r);

		sr_argv_free(&a);
		char sock[SR_CONTAINER_NAME_MAX];
		snprintf(sock, sizeof(sock), "smrelay-%s", id);
		make_inner(&inner, (const char *const[]){"tmux", "-L", sock, "display-message", "-p",
							 "#{pid}", NULL});
		cr_assert_eq(sr_container_exec_argv(&s, &inner, 0, &a, err, sizeof(err)), 0, "%s", err);
		sr_argv_free(&inner);
		r = run_quoted(&a, NULL, 0);
		sr_argv_free(&a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tmux_pid = strtol(r.out, NULL, 10);
		cr_assert_gt(tmux_pid, 0, "%s", r.out);
		cr_assert(proc_alive(tmux_pid));
		ts_run_free(&r);

		/* the program ran in the mounted workdir */
		char started[512];
		snprintf(started, sizeof(started), "%s/started", work);
		double end = now_s() + GUARD_S;
		while (access(started, F_OK) != 0) {
			cr_assert(now_s() < end, "the holder's program did not start");
			nap();
		}
	}

	/* remove: everything in the container dies */
	cr_assert_eq(sr_container_remove_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	r = run_quoted(&a, NULL, 0);
	cr_assert_eq(r.status, 0, "rm: %s", r.err);
	char name[SR_CONTAINER_NAME_MAX + 1];
	cr_assert_eq(sr_container_name(id, name, sizeof(name)), 0);
	strcat(name, "\n");
	cr_assert_str_eq(r.out, name);
	ts_run_free(&r);
	cr_assert_not(marked_process_exists(cid));
	if (tmux_pid)
		cr_assert_not(proc_alive(tmux_pid), "the tmux server survived rm");

	/* not running any more; a second remove fails (see fake-podman) */
	r = run_quoted(&a, NULL, 0);
	cr_assert_eq(r.status, 1);
	cr_assert_not_null(strstr(r.err, "no such container"), "%s", r.err);
	ts_run_free(&r);
	sr_argv_free(&a);
	cr_assert_eq(sr_container_running_argv(&s, &a, err, sizeof(err)), 0, "%s", err);
	r = run_quoted(&a, NULL, 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	ts_run_free(&r);
	sr_argv_free(&a);
}

/* ---- fake-podman itself ---- */

/* run -d ... NAME with the workdir DIR_/src mounted; returns the id. */
static void fake_start(const char *name, const char *src, char cid[65])
{
	char vol[512];
	snprintf(vol, sizeof(vol), "%s:/workspace", src);
	char label[128];
	snprintf(label, sizeof(label), "smrelay.session=%s", name);
	struct ts_run r = FAKE_RUN("run", "-d", "--init", "--name", name, "--label", label, "--network",
				"none", "--memory", "1g", "--cpus", "2", "-v", vol, "-w", "/workspace",
				"img:1", "sleep", "infinity");
	cr_assert_eq(r.status, 0, "run %s: %s", name, r.err);
	cr_assert_eq(r.outlen, 65, "%s", r.out);
	cr_assert(is_hex(r.out, 64));
	memcpy(cid, r.out, 64);
	cid[64] = '\0';
	ts_run_free(&r);
}

static void make_src(char *src, size_t len)
{
	snprintf(src, len, "%s/src dir", DIR_);
	cr_assert_eq(mkdir(src, 0700), 0);
}

Test(fake_podman, run_ps_inspect_rm)
{
	char src[256], cid[65], cid2[65];
	make_src(src, sizeof(src));
	fake_start("c1", src, cid);
	fake_start("c12", src, cid2);
	cr_assert_str_neq(cid, cid2);

	/* ps -q: short ids, filtered by exact label */
	struct ts_run r = FAKE_RUN("ps", "-q", "--filter", "label=smrelay.session=c1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	char want[64];
	snprintf(want, sizeof(want), "%.12s\n", cid);
	cr_assert_str_eq(r.out, want);
	ts_run_free(&r);
	r = FAKE_RUN("ps", "-q", "--filter=label=smrelay.session=nope");
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "");
	ts_run_free(&r);
	r = FAKE_RUN("ps", "-q", "--no-trunc", "--filter", "label=smrelay.session");
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.outlen, 2 * 65, "%s", r.out);
	cr_assert_not_null(strstr(r.out, cid));
	cr_assert_not_null(strstr(r.out, cid2));
	ts_run_free(&r);
	r = FAKE_RUN("ps");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(r.out, "CONTAINER ID"));
	cr_assert_not_null(strstr(r.out, "img:1"));
	cr_assert_not_null(strstr(r.out, " c12\n"));
	ts_run_free(&r);
	r = FAKE_RUN("ps", "--filter", "bogus=1");
	cr_assert_eq(r.status, 125);
	ts_run_free(&r);

	r = FAKE_RUN("inspect", "-f", "{{.State.Running}}", "c1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "true\n");
	ts_run_free(&r);
	r = FAKE_RUN("inspect", "--format", "{{.Id}}", "c1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(strncmp(r.out, cid, 64), 0);
	ts_run_free(&r);

	/* rm without -f refuses a running container */
	r = FAKE_RUN("rm", "c1");
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "container state improper"), "%s", r.err);
	ts_run_free(&r);
	/* by id prefix, with -f */
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%.12s", cid);
	r = FAKE_RUN("rm", "-f", prefix);
	cr_assert_eq(r.status, 0, "%s", r.err);
	snprintf(want, sizeof(want), "%s\n", prefix);
	cr_assert_str_eq(r.out, want);
	ts_run_free(&r);
	cr_assert_not(marked_process_exists(cid));
	cr_assert(marked_process_exists(cid2));

	r = FAKE_RUN("inspect", "-f", "{{.State.Running}}", "c1");
	cr_assert_eq(r.status, 125);
	cr_assert_str_eq(r.err, "Error: no such object: \"c1\"\n");
	ts_run_free(&r);
	r = FAKE_RUN("ps", "-a", "-q");
	snprintf(want, sizeof(want), "%.12s\n", cid2);
	cr_assert_str_eq(r.out, want);
	ts_run_free(&r);

	/* missing: exit 1, with or without -f */
	r = FAKE_RUN("rm", "-f", "c1");
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "Error: no container with name or ID \"c1\" found: no such container\n");
	ts_run_free(&r);
	r = FAKE_RUN("rm", "nope");
	cr_assert_eq(r.status, 1);
	ts_run_free(&r);
	r = FAKE_RUN("rm", "-f", "c12");
	cr_assert_eq(r.status, 0, "%s", r.err);
	ts_run_free(&r);
	cr_assert_not(marked_process_exists(cid2));
	r = FAKE_RUN("ps", "-a");
	cr_assert_eq(r.status, 0);
	cr_assert_null(strchr(strchr(r.out, '\n') + 1, '\n'), "%s", r.out); /* header only */
	ts_run_free(&r);
}

Test(fake_podman, run_errors)
{
	char src[256], cid[65], vol[512];
	make_src(src, sizeof(src));
	snprintf(vol, sizeof(vol), "%s:/workspace", src);

	struct ts_run r = FAKE_RUN("run", "-d", "--bogus", "x", "img", "sleep", "1");
	cr_assert_eq(r.status, 125);
	cr_assert_str_eq(r.err, "Error: unknown flag: --bogus\n");
	ts_run_free(&r);
	r = FAKE_RUN("run", "-d", "--name", "c1");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "requires at least 1 arg"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("run", "-d", "--name", "c1", "-v", "/nonexistent-sr-dir:/workspace", "img", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "no such file or directory"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("run", "-d", "--name", "../x", "img", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "names must match"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("run", "-d", "--name", "c1", "bad image", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "invalid reference format"), "%s", r.err);
	ts_run_free(&r);

	fake_start("c1", src, cid);
	r = FAKE_RUN("run", "-d", "--init", "--name", "c1", "-v", vol, "img", "sleep", "infinity");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "Error: "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "name \"c1\" is already in use"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("bogus-command");
	cr_assert_eq(r.status, 125);
	ts_run_free(&r);
}

Test(fake_podman, exec_errors)
{
	char src[256], cid[65], vol[512];
	make_src(src, sizeof(src));
	snprintf(vol, sizeof(vol), "%s:/workspace", src);

	struct ts_run r = FAKE_RUN("exec", "nope", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_str_eq(r.err, "Error: no container with name or ID \"nope\" found: no such container\n");
	ts_run_free(&r);

	/* main process gone: exec refuses, ps hides it, ps -a shows it */
	r = FAKE_RUN("run", "-d", "--name", "dead", "-v", vol, "img", "sh", "-c", "exit 0");
	cr_assert_eq(r.status, 0, "%s", r.err);
	ts_run_free(&r);
	double end = now_s() + GUARD_S;
	for (;;) {
		r = FAKE_RUN("inspect", "-f", "{{.State.Running}}", "dead");
		int stopped = strcmp(r.out, "false\n") == 0;
		ts_run_free(&r);
		if (stopped)
			break;
		cr_assert(now_s() < end, "the main process did not exit");
		nap();
	}
	r = FAKE_RUN("exec", "dead", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "container state improper"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("ps", "-q");
	cr_assert_str_eq(r.out, "");
	ts_run_free(&r);
	r = FAKE_RUN("ps", "-aq");
	cr_assert_eq(r.outlen, 13);
	ts_run_free(&r);
	/* a stopped container goes without -f */
	r = FAKE_RUN("rm", "dead");
	cr_assert_eq(r.status, 0, "%s", r.err);
	ts_run_free(&r);

	fake_start("c1", src, cid);
	r = FAKE_RUN("exec", "c1");
	cr_assert_eq(r.status, 125);
	cr_assert_not_null(strstr(r.err, "non-empty command"), "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("exec", "--privileged", "c1", "true");
	cr_assert_eq(r.status, 125);
	cr_assert_str_eq(r.err, "Error: unknown flag: --privileged\n");
	ts_run_free(&r);
	r = FAKE_RUN("exec", "-x", "c1", "true");
	cr_assert_eq(r.status, 125);
	ts_run_free(&r);
	r = FAKE_RUN("exec", "c1", "/nonexistent/cmd");
	cr_assert_eq(r.status, 127);
	ts_run_free(&r);
}

Test(fake_podman, exec_environment_cwd_and_mapping)
{
	char src[256], cid[65], sub[300];
	make_src(src, sizeof(src));
	snprintf(sub, sizeof(sub), "%s/sub", src);
	cr_assert_eq(mkdir(sub, 0700), 0);
	fake_start("c1", src, cid);

	cr_assert_eq(setenv("SR_COPY", "copied value $(x)", 1), 0);
	cr_assert_eq(unsetenv("SR_ABSENT"), 0);
	cr_assert_eq(setenv("SR_HIDDEN", "host only", 1), 0);
	struct ts_run r = FAKE_RUN("exec", "--env", "SR_COPY", "--env", "SR_ABSENT", "-e", "SR_SET=a=b c",
				"--env=SR_SET2=", "c1", "sh", "-c",
				"pwd; printf '%s|%s|%s|%s|%s|%s\\n' \"$SR_COPY\" \"${SR_ABSENT-unset}\" "
				"\"$SR_SET\" \"${SR_SET2-unset}\" \"${SR_HIDDEN-unset}\" "
				"\"$FAKE_PODMAN_CONTAINER\"; printf '%s\\n' \"$@\"",
				"sh", "/workspace", "/workspace/sub", "/workspacex", "x/workspace");
	cr_assert_eq(r.status, 0, "%s", r.err);
	char want[2048];
	snprintf(want, sizeof(want),
		 "%s\ncopied value $(x)|unset|a=b c||unset|c1\n%s\n%s/sub\n/workspacex\nx/workspace\n",
		 src, src, src);
	cr_assert_str_eq(r.out, want);
	ts_run_free(&r);

	/* -w is mapped too; exit status and -i stdin pass through; without
	 * -i there is no stdin */
	r = FAKE_RUN("exec", "-w", "/workspace/sub", "c1", "sh", "-c", "pwd; exit 42");
	cr_assert_eq(r.status, 42);
	snprintf(want, sizeof(want), "%s\n", sub);
	cr_assert_str_eq(r.out, want);
	ts_run_free(&r);
	r = ts_run_argv((const char *const[]){FAKE, "exec", "-i", "c1", "cat", NULL}, NULL, "to stdin", 8);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "to stdin");
	ts_run_free(&r);
	r = ts_run_argv((const char *const[]){FAKE, "exec", "c1", "cat", NULL}, NULL, "to stdin", 8);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "");
	ts_run_free(&r);
	/* -t sets TERM=xterm unless --env TERM is given */
	r = FAKE_RUN("exec", "-it", "c1", "sh", "-c", "printf %s \"$TERM\"");
	cr_assert_str_eq(r.out, "xterm");
	ts_run_free(&r);
	r = FAKE_RUN("exec", "-ti", "--env", "TERM=vt100", "c1", "sh", "-c", "printf %s \"$TERM\"");
	cr_assert_str_eq(r.out, "vt100");
	ts_run_free(&r);
	r = FAKE_RUN("exec", "c1", "sh", "-c", "printf %s \"${TERM-unset}\"");
	cr_assert_str_eq(r.out, "unset");
	ts_run_free(&r);
	/* -d: detached, returns at once */
	r = FAKE_RUN("exec", "-d", "c1", "sh", "-c", "sleep 0.1; touch \"$1\"", "sh", "/workspace/detached");
	cr_assert_eq(r.status, 0, "%s", r.err);
	ts_run_free(&r);
	char det[512];
	snprintf(det, sizeof(det), "%s/detached", src);
	double end = now_s() + GUARD_S;
	while (access(det, F_OK) != 0) {
		cr_assert(now_s() < end, "exec -d did not run");
		nap();
	}
}

Test(fake_podman, exec_hostile_arguments_unchanged)
{
	char src[256], cid[65];
	make_src(src, sizeof(src));
	fake_start("c1", src, cid);
	static const char *const args[] = {
		"a\nb", "trailing\n\n", "'", "\"", "$(touch pwned)", "`touch pwned`", ";", "&&", "|",
		"-rf", "--", "--env", "-e", "", " ", "*", "?", "~", "=x", "A=b", "\\", "\t",
		"h\xc3\xa9llo", "\x01\x7f\xff", NULL,
	};
	const char *argv[64] = {FAKE, "exec", "c1", "sh", "-c", "printf '%s\\0' \"$@\"", "sh"};
	size_t n = 7, nargs = 0;
	for (; args[nargs]; nargs++)
		argv[n++] = args[nargs];
	argv[n] = NULL;
	struct ts_run r = ts_run_argv(argv, EMPTY, NULL, 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	size_t o = 0;
	for (size_t i = 0; i < nargs; i++) {
		cr_assert_lt(o, r.outlen, "argument %zu missing", i);
		cr_assert_str_eq(r.out + o, args[i], "argument %zu (%s)", i, show(args[i]));
		o += strlen(args[i]) + 1;
	}
	cr_assert_eq(o, r.outlen);
	cr_assert_eq(count_entries(EMPTY), 0);
	cr_assert_eq(count_entries(src), 0);
	ts_run_free(&r);
}

Test(fake_podman, rm_kills_daemonized_tmux)
{
	if (!tmux_available())
		cr_skip_test("tmux is not installed");
	char src[256], cid[65];
	make_src(src, sizeof(src));
	fake_start("c1", src, cid);
	struct ts_run r = FAKE_RUN("exec", "c1", "tmux", "-L", "x", "-f", "/dev/null", "new-session", "-d",
				"sleep 100");
	cr_assert_eq(r.status, 0, "%s", r.err);
	ts_run_free(&r);
	r = FAKE_RUN("exec", "c1", "tmux", "-L", "x", "display-message", "-p", "#{pid}");
	cr_assert_eq(r.status, 0, "%s", r.err);
	long server = strtol(r.out, NULL, 10);
	ts_run_free(&r);
	cr_assert_gt(server, 0);
	cr_assert(proc_alive(server));
	/* the server left the exec's process tree (daemonized) */
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", server);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	long ppid = strtol(strrchr(buf, ')') + 4, NULL, 10);
	cr_assert_neq(ppid, (long)getpid());
	cr_assert(marked_process_exists(cid));

	r = FAKE_RUN("rm", "-f", "c1");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "c1\n");
	ts_run_free(&r);
	cr_assert_not(proc_alive(server), "the tmux server survived rm -f");
	cr_assert_not(marked_process_exists(cid));
	/* tmux agrees: no server on that socket */
	r = ts_run_argv((const char *const[]){"/bin/sh", "-c", "exec tmux -L x has-session", NULL}, NULL,
		     NULL, 0);
	cr_assert_neq(r.status, 0);
	ts_run_free(&r);
}
