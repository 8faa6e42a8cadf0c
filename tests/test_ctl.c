/* test_ctl.c — the control socket and the command line end to end, through
 * the real binary: `smrelay serve` runs as a child process against a real
 * OpenSSH sshd on loopback (runtime `none`: the session holders are tmux
 * servers of this user), and the CLI runs as subprocesses whose exit status,
 * stdout and stderr are checked. `smrelay attach` runs inside private tmux
 * servers (send-keys / capture-pane / display). Covered: start, list
 * (text and --json), screen, send, keys, resize, stop; clear errors and exit
 * codes; attach (repaint equals the screen, typing, detach restores the
 * terminal, two attachers, read-only, the size policy); a second user
 * refused; the daemon killed with SIGKILL and restarted; SIGTERM leaves the
 * sessions running. Every test ends by stopping the daemon with SIGTERM and
 * checking it exited 0 with no sanitizer report in its log (in the ASan
 * build the daemon is the ASan binary: a leak makes that exit non-zero).
 * GUARD_S only guards against hangs; nothing asserts on timing. */
#define _GNU_SOURCE /* setgroups */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sshd_harness.h"

#define GUARD_S 30.0
#define MAXIDS 8
#define MAXTMUX 8

extern char **environ;

static struct sshd D;
static char TMP[256];       /* everything of this test */
static char STATE[300];     /* SM_STATE_DIR of the daemon */
static char SOCK[320];      /* its control socket */
static char LOG[300];       /* the daemon's stdout + stderr (all its runs) */
static char TMUXCONF[300];  /* config of the test tmux servers */
static char USER_NAME[64];  /* who runs the tests: the owner of CLI starts */
static pid_t DAEMON;
static int PASSED;          /* set at the end of a test: no log dump in .fini */
static char IDS[MAXIDS][16];     /* sessions started: their holders go in .fini */
static char TMUXS[MAXTMUX][64];  /* test tmux servers (-L names) */

/* ---- environments: fixed storage, nothing to free ---- */
struct envv {
	char s[32][1200];
	char *p[33];
	size_t n;
};

static void envv_set(struct envv *e, const char *name, const char *value)
{
	size_t nl = strlen(name);
	size_t i = 0;
	for (; i < e->n; i++)
		if (!strncmp(e->s[i], name, nl) && e->s[i][nl] == '=')
			break;
	cr_assert_lt(i, sizeof(e->s) / sizeof(e->s[0]));
	snprintf(e->s[i], sizeof(e->s[i]), "%s=%s", name, value);
	if (i == e->n)
		e->n++;
	for (size_t k = 0; k < e->n; k++)
		e->p[k] = e->s[k];
	e->p[e->n] = NULL;
}

/* PATH, HOME (this test's dir: no dotfiles of the user), SHELL, and the
 * sanitizer options of this process, so ASan children report like us. */
static void envv_base(struct envv *e)
{
	memset(e, 0, sizeof(*e));
	const char *path = getenv("PATH");
	envv_set(e, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	envv_set(e, "HOME", TMP);
	envv_set(e, "SHELL", "/bin/sh");
	static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const char *v = getenv(pass[i]);
		if (v)
			envv_set(e, pass[i], v);
	}
}

/* The CLI's environment: only SM_STATE_DIR points it at a daemon. */
static void envv_cli(struct envv *e, const char *state_dir)
{
	envv_base(e);
	envv_set(e, "SM_STATE_DIR", state_dir);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void close_from(int lowfd)
{
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 4096)
		max = 4096;
	for (int fd = lowfd; fd < max; fd++)
		close(fd);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap);
	while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	chmod(path, mode);
}

/* ---- subprocesses ---- */
struct res {
	int status; /* exit code, or 128 + signal */
	char *out, *err;
};

static void res_free(struct res *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static void buf_add(char **b, size_t *n, size_t *cap, const char *p, size_t len)
{
	if (*n + len + 1 > *cap) {
		while (*n + len + 1 > *cap)
			*cap *= 2;
		char *nb = realloc(*b, *cap);
		cr_assert_not_null(nb);
		*b = nb;
	}
	memcpy(*b + *n, p, len);
	*n += len;
	(*b)[*n] = '\0';
}

/* Runs argv (PATH lookup in envp) with stdin from /dev/null, as uid/gid
 * when uid is not -1; collects stdout and stderr. A hang is a failure. */
static struct res run_as(uid_t uid, gid_t gid, char *const argv[], char *const envp[])
{
	int po[2], pe[2];
	cr_assert_eq(pipe(po), 0);
	cr_assert_eq(pipe(pe), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		close_from(3);
		if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
			_exit(125);
		environ = (char **)envp;
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	size_t on = 0, ocap = 4096, en = 0, ecap = 4096;
	struct res r = {.out = malloc(ocap), .err = malloc(ecap)};
	cr_assert(r.out && r.err);
	r.out[0] = r.err[0] = '\0';
	int fds[2] = {po[0], pe[0]};
	double end = now_s() + GUARD_S;
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
		int left = (int)((end - now_s()) * 1000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_assert_fail("'%s %s' did not finish within %.0f s; stdout:\n%s\nstderr:\n%s",
				       argv[0], argv[1] ? argv[1] : "", GUARD_S, r.out, r.err);
		}
		if (poll(p, 2, left) < 0 && errno != EINTR)
			cr_assert_fail("poll: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[4096];
			ssize_t n = read(fds[i], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(fds[i]);
				fds[i] = -1;
				continue;
			}
			if (i == 0)
				buf_add(&r.out, &on, &ocap, chunk, (size_t)n);
			else
				buf_add(&r.err, &en, &ecap, chunk, (size_t)n);
		}
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return r;
}

/* `smrelay ARGS...` (NULL-terminated) against the state dir sd. */
static struct res cli_in(const char *sd, ...)
{
	char *argv[16] = {SR_SMRELAY_BIN};
	size_t n = 1;
	va_list ap;
	va_start(ap, sd);
	for (const char *a; (a = va_arg(ap, const char *));) {
		cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = (char *)a;
	}
	va_end(ap);
	argv[n] = NULL;
	static struct envv e;
	envv_cli(&e, sd);
	return run_as((uid_t)-1, (gid_t)-1, argv, e.p);
}

#define cli(...) cli_in(STATE, __VA_ARGS__, (const char *)NULL)

/* ---- the daemon ---- */

/* The test TUI: a banner, then one "got:LINE" per line typed; "modes"
 * switches on what a full-screen program does to a terminal. */
static const char TUI[] = "#!/bin/sh\n"
			  "echo \"tui-ready\"\n"
			  "echo \"pwd=$(pwd)\"\n"
			  "while IFS= read -r l; do\n"
			  "  case \"$l\" in\n"
			  "  quit) exit 0 ;;\n"
			  "  modes) printf '\\033[?1049h\\033[?1h\\033=\\033[?25l\\033[?1000h'; echo modes-on ;;\n"
			  "  *) echo \"got:$l\" ;;\n"
			  "  esac\n"
			  "done\n";

static void daemon_env(struct envv *e)
{
	char buf[1024];
	envv_base(e);
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", D.port);
	envv_set(e, "SM_VM_HOST", buf);
	envv_set(e, "SM_VM_USER", D.user);
	envv_set(e, "SM_VM_SSH_KEY_PATH", D.user_key);
	envv_set(e, "SM_VM_KNOWN_HOSTS", D.known_hosts);
	envv_set(e, "SM_CONTAINER_RUNTIME", "none");
	snprintf(buf, sizeof(buf), "%s/tui.sh", TMP);
	envv_set(e, "SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	envv_set(e, "SM_PROJECTS", buf);
	envv_set(e, "SM_STATE_DIR", STATE);
	snprintf(buf, sizeof(buf), "%s/repos", TMP);
	envv_set(e, "SM_REPOS_BASE_PATH", buf);
	snprintf(buf, sizeof(buf), "%s/worktrees", TMP);
	envv_set(e, "SM_WORKTREES_PATH", buf);
	envv_set(e, "SM_COLS", "80");
	envv_set(e, "SM_ROWS", "24");
	/* the daemon's HTTP listener: any free port (tests run in parallel) */
	envv_set(e, "SM_LISTEN_ADDR", "127.0.0.1:0");
}

static void daemon_start(void)
{
	static struct envv e;
	daemon_env(&e);
	int log = open(LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cr_assert_geq(log, 0, "%s: %s", LOG, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* dies with the test, even a crashed one */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		close_from(3);
		execve(SR_SMRELAY_BIN, (char *[]){SR_SMRELAY_BIN, "serve", NULL}, e.p);
		_exit(127);
	}
	close(log);
	DAEMON = pid;
}

/* One request on a fresh connection; the reply line (malloc'ed) or NULL,
 * with the connect errno in *cerr (0 when it connected). */
static char *raw_request(const char *path, const char *line, int *cerr)
{
	*cerr = 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	cr_assert_lt(plen, sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, plen + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		*cerr = errno;
		return NULL;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*cerr = errno;
		close(s);
		return NULL;
	}
	/* A refusing daemon may answer and close before reading: the
	 * answer is still there to read after a failed write. */
	size_t len = strlen(line);
	if (write(s, line, len) < 0 && errno != EPIPE) {
		close(s);
		return NULL;
	}
	char buf[8192];
	size_t n = 0;
	while (n < sizeof(buf) - 1) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t r = read(s, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	close(s);
	buf[n] = '\0';
	char *nl = strchr(buf, '\n');
	if (!nl)
		return NULL;
	*nl = '\0';
	return strdup(buf);
}

static int daemon_exited(int *status)
{
	int st;
	pid_t w = waitpid(DAEMON, &st, WNOHANG);
	if (w != DAEMON)
		return 0;
	DAEMON = 0;
	*status = st;
	return 1;
}

/* Until the daemon answers "hello" on its socket (a stale socket file of a
 * killed daemon does not count). */
static void daemon_wait(void)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		int st, cerr;
		if (daemon_exited(&st)) {
			char *log = slurp(LOG);
			cr_assert_fail("the daemon exited at start (status %d); log:\n%s",
				       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), log ? log : "");
		}
		char *r = raw_request(SOCK, "{\"v\":1,\"cmd\":\"hello\"}\n", &cerr);
		int ok = r && strstr(r, "\"ok\":true");
		free(r);
		if (ok)
			return;
		cr_assert(now_s() < end, "the daemon does not answer on %s", SOCK);
		sleep_ms(50);
	}
}

/* The daemon's log has no report from ASan, LSan or UBSan. */
static void log_clean(void)
{
	char *log = slurp(LOG);
	cr_assert_not_null(log);
	int bad = strstr(log, "Sanitizer") || strstr(log, "runtime error:");
	if (bad)
		cr_assert_fail("the daemon's log has a sanitizer report:\n%s", log);
	free(log);
}

/* SIGTERM: the daemon must exit 0 (in the ASan build: without leaks). */
static int daemon_term(void)
{
	cr_assert_gt(DAEMON, 0);
	cr_assert_eq(kill(DAEMON, SIGTERM), 0);
	double end = now_s() + GUARD_S;
	int st;
	while (!daemon_exited(&st)) {
		cr_assert(now_s() < end, "the daemon did not exit after SIGTERM");
		sleep_ms(20);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void daemon_stop_ok(void)
{
	int st = daemon_term();
	cr_assert_eq(st, 0, "the daemon exited with status %d after SIGTERM", st);
	log_clean();
}

/* sshd, temp dir, the TUI, the project, a running daemon. */
static void setup(void)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	struct passwd *pw = getpwuid(geteuid());
	cr_assert_not_null(pw);
	snprintf(USER_NAME, sizeof(USER_NAME), "%s", pw->pw_name);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-ctl-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	snprintf(STATE, sizeof(STATE), "%s/state", TMP);
	snprintf(SOCK, sizeof(SOCK), "%s/control.sock", STATE);
	snprintf(LOG, sizeof(LOG), "%s/daemon.log", TMP);
	snprintf(TMUXCONF, sizeof(TMUXCONF), "%s/tmux.conf", TMP);
	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	char path[512];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, TUI, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	cr_assert_eq(mkdir(path, 0755), 0);
	/* no status line: a window of C x R is a pane of C x R */
	write_file(TMUXCONF, "set -g status off\n", 0644);
	daemon_start();
	daemon_wait();
}

static void teardown(void)
{
	if (DAEMON > 0) {
		kill(DAEMON, SIGKILL);
		waitpid(DAEMON, NULL, 0);
		DAEMON = 0;
	}
	char cmd[1024];
	for (size_t i = 0; i < MAXTMUX; i++) {
		if (!TMUXS[i][0])
			continue;
		snprintf(cmd, sizeof(cmd), "tmux -L '%.63s' kill-server >/dev/null 2>&1; "
			 "rm -f \"/tmp/tmux-$(id -u)/%.63s\"", TMUXS[i], TMUXS[i]);
		if (system(cmd) < 0) {
		}
	}
	for (size_t i = 0; i < MAXIDS; i++) {
		if (!IDS[i][0])
			continue;
		snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s kill-server >/dev/null 2>&1; "
			 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%s\"", IDS[i], IDS[i]);
		if (system(cmd) < 0) {
		}
	}
	sshd_stop(&D);
	if (!PASSED && LOG[0]) {
		char *log = slurp(LOG);
		if (log && *log)
			fprintf(stderr, "---- smrelay serve log (%s) ----\n%s---- end of log ----\n", LOG, log);
		free(log);
	}
	if (TMP[0]) {
		chmod(TMP, 0700);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		if (system(cmd) < 0) {
		}
	}
	memset(IDS, 0, sizeof(IDS));
	memset(TMUXS, 0, sizeof(TMUXS));
	TMP[0] = LOG[0] = '\0';
	PASSED = 0;
}

TestSuite(ctl, .fini = teardown);

/* ---- sessions through the CLI ---- */

static int is_id(const char *s)
{
	if (strlen(s) != 8)
		return 0;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p)))
			return 0;
	return 1;
}

static void remember_id(const char *id)
{
	for (size_t i = 0; i < MAXIDS; i++)
		if (!IDS[i][0]) {
			snprintf(IDS[i], sizeof(IDS[i]), "%s", id);
			return;
		}
	cr_assert_fail("too many sessions for the cleanup list");
}

/* The screen of id once it contains text (malloc'ed). */
static char *wait_screen(const char *id, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		struct res r = cli("screen", id);
		if (r.status == 0 && strstr(r.out, text)) {
			free(r.err);
			return r.out;
		}
		if (now_s() > end)
			cr_assert_fail("no '%s' on the screen of %s (exit %d):\n%s%s", text, id, r.status,
				       r.out, r.err);
		res_free(&r);
		sleep_ms(100);
	}
}

/* `smrelay start demo`: checks the printed id, waits for the banner. */
static void start_demo(char id[16])
{
	/* A daemon that has just started is still connecting to its VM and
	 * refuses starts until then (reported as a relay issue): retry on
	 * exactly that refusal. */
	double end = now_s() + GUARD_S;
	struct res r = cli("start", "demo");
	while (r.status == 1 && strstr(r.err, "no VM host is reachable") && strstr(r.err, ": connecting)") &&
	       now_s() < end) {
		res_free(&r);
		sleep_ms(100);
		r = cli("start", "demo");
	}
	cr_assert_eq(r.status, 0, "start: exit %d: %s", r.status, r.err);
	size_t n = strlen(r.out);
	cr_assert(n > 0 && r.out[n - 1] == '\n', "start printed: '%s'", r.out);
	r.out[n - 1] = '\0';
	cr_assert(is_id(r.out), "start printed '%s', not a session id", r.out);
	cr_assert_str_empty(r.err);
	snprintf(id, 16, "%s", r.out);
	remember_id(id);
	res_free(&r);
	free(wait_screen(id, "tui-ready"));
}

/* `smrelay list --json`, parsed; the caller deletes it. */
static cJSON *list_json(void)
{
	struct res r = cli("list", "--json");
	cr_assert_eq(r.status, 0, "list --json: exit %d: %s", r.status, r.err);
	cJSON *a = cJSON_Parse(r.out);
	cr_assert(cJSON_IsArray(a), "list --json printed: %s", r.out);
	res_free(&r);
	return a;
}

static const cJSON *find_session(const cJSON *arr, const char *id)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, arr)
	{
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(s, "id");
		if (cJSON_IsString(i) && !strcmp(i->valuestring, id))
			return s;
	}
	return NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	cr_assert(cJSON_IsNumber(v), "no number '%s'", k);
	return v->valuedouble;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	cr_assert(cJSON_IsString(v), "no string '%s'", k);
	return v->valuestring;
}

/* Until list --json reports id at cols x rows with `attached` clients
 * (attached < 0: any). */
static void wait_listed(const char *id, int cols, int rows, int attached)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		cJSON *a = list_json();
		const cJSON *s = find_session(a, id);
		cr_assert_not_null(s, "%s is not listed", id);
		int c = (int)jnum(s, "cols"), r = (int)jnum(s, "rows"), n = (int)jnum(s, "attached");
		cJSON_Delete(a);
		if (c == cols && r == rows && (attached < 0 || n == attached))
			return;
		cr_assert(now_s() < end, "%s is %dx%d with %d attached; expected %dx%d with %d", id, c, r,
			  n, cols, rows, attached);
		sleep_ms(100);
	}
}

static int holder_alive(const char *id)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s has-session -t main 2>/dev/null", id);
	return system(cmd) == 0;
}

/* The holder's pane size, "CxR". */
static void holder_size(const char *id, char *out, size_t len)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s display -p -t main '#{pane_width}x#{pane_height}'", id);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

static void wait_holder_size(const char *id, const char *want)
{
	double end = now_s() + GUARD_S;
	char got[64];
	for (;;) {
		holder_size(id, got, sizeof(got));
		if (!strcmp(got, want))
			return;
		cr_assert(now_s() < end, "the holder's pane is %s, expected %s", got, want);
		sleep_ms(100);
	}
}

/* Rows with trailing blanks removed, trailing empty rows dropped. */
static void normalize(char *t)
{
	char *w = t;
	const char *r = t;
	while (*r) {
		const char *nl = strchr(r, '\n');
		size_t n = nl ? (size_t)(nl - r) : strlen(r);
		size_t k = n;
		while (k && (r[k - 1] == ' ' || r[k - 1] == '\t' || r[k - 1] == '\r'))
			k--;
		memmove(w, r, k);
		w += k;
		*w++ = '\n';
		r += n + (nl ? 1 : 0);
	}
	*w = '\0';
	while (w > t && w[-1] == '\n')
		*--w = '\0';
}

/* ---- test tmux servers: where `smrelay attach` runs ---- */

static const char *tmux_name(const char *tag, char *buf, size_t len)
{
	snprintf(buf, len, "ctltest-%ld-%s", (long)getpid(), tag);
	return buf;
}

static struct res tmux_run(const char *tag, const char *const *args)
{
	char name[64];
	tmux_name(tag, name, sizeof(name));
	char *argv[24] = {"tmux", "-L", name, "-f", TMUXCONF};
	size_t n = 5;
	for (; *args; args++) {
		cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = (char *)*args;
	}
	argv[n] = NULL;
	static struct envv e;
	envv_base(&e);
	envv_set(&e, "TERM", "xterm-256color");
	return run_as((uid_t)-1, (gid_t)-1, argv, e.p);
}

#define tmux(tag, ...) tmux_run(tag, (const char *const[]){__VA_ARGS__, NULL})

static void tmux_ok(struct res r, const char *what)
{
	cr_assert_eq(r.status, 0, "tmux %s: exit %d: %s", what, r.status, r.err);
	res_free(&r);
}

/* A tmux server `tag` with one cols x rows window running
 * `smrelay attach id EXTRA` in a shell that then reports the exit status
 * and whether the terminal settings (stty -g) came back, and stays. */
static void tmux_attach(const char *tag, unsigned cols, unsigned rows, const char *id,
			const char *extra)
{
	char name[64];
	tmux_name(tag, name, sizeof(name));
	for (size_t i = 0;; i++) {
		cr_assert_lt(i, MAXTMUX);
		if (!TMUXS[i][0]) {
			snprintf(TMUXS[i], sizeof(TMUXS[i]), "%s", name);
			break;
		}
	}
	char cmd[2048], c[16], r[16];
	snprintf(cmd, sizeof(cmd),
		 "B=$(stty -g); SM_CONTROL_SOCKET= SM_STATE_DIR='%s' '%s' attach %s %s; "
		 "echo ATTACH-EXIT=$?; [ \"$(stty -g)\" = \"$B\" ] && echo TTY-RESTORED || echo TTY-CHANGED; "
		 "echo PANE-DONE; exec sleep 300",
		 STATE, SR_SMRELAY_BIN, id, extra);
	snprintf(c, sizeof(c), "%u", cols);
	snprintf(r, sizeof(r), "%u", rows);
	tmux_ok(tmux(tag, "new-session", "-d", "-s", "t", "-x", c, "-y", r, cmd), "new-session");
}

/* The pane's text (malloc'ed, normalized). */
static char *pane(const char *tag)
{
	struct res r = tmux(tag, "capture-pane", "-p", "-t", "t");
	cr_assert_eq(r.status, 0, "capture-pane: %s", r.err);
	free(r.err);
	normalize(r.out);
	return r.out;
}

static char *wait_pane(const char *tag, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *t = pane(tag);
		if (strstr(t, text))
			return t;
		if (now_s() > end)
			cr_assert_fail("no '%s' in tmux pane %s:\n%s", text, tag, t);
		free(t);
		sleep_ms(100);
	}
}

/* A tmux format of the pane, e.g. "#{alternate_on}". */
static void pane_format(const char *tag, const char *fmt, char *out, size_t len)
{
	struct res r = tmux(tag, "display", "-p", "-t", "t", fmt);
	cr_assert_eq(r.status, 0, "display: %s", r.err);
	snprintf(out, len, "%s", r.out);
	out[strcspn(out, "\n")] = '\0';
	res_free(&r);
}

/* Until the pane shows exactly the session's screen. */
static void wait_pane_equals_screen(const char *tag, const char *id)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		struct res r = cli("screen", id);
		cr_assert_eq(r.status, 0, "screen: %s", r.err);
		normalize(r.out);
		char *p = pane(tag);
		int same = !strcmp(p, r.out);
		if (!same && now_s() > end)
			cr_assert_fail("the attached terminal (%s) differs from the session's screen.\n"
				       "---- pane ----\n%s\n---- smrelay screen ----\n%s\n----",
				       tag, p, r.out);
		free(p);
		res_free(&r);
		if (same)
			return;
		sleep_ms(100);
	}
}

static void send_ok(const char *id, const char *text)
{
	struct res r = cli("send", id, text);
	cr_assert_eq(r.status, 0, "send %s: exit %d: %s", text, r.status, r.err);
	cr_assert_str_empty(r.out);
	res_free(&r);
}

static void detach(const char *tag)
{
	tmux_ok(tmux(tag, "send-keys", "-t", "t", "-H", "1c"), "send-keys C-\\");
}

/* Once `smrelay attach` in pane tag has ended: it said why, exited with
 * status, and the terminal settings are as before it started. */
static void wait_ended(const char *tag, const char *why, int status)
{
	char *p = wait_pane(tag, "PANE-DONE");
	char want[128];
	snprintf(want, sizeof(want), "[smrelay: %s]", why);
	cr_assert_not_null(strstr(p, want), "no '%s' in pane %s:\n%s", want, tag, p);
	snprintf(want, sizeof(want), "ATTACH-EXIT=%d\n", status);
	cr_assert_not_null(strstr(p, want), "no '%s' in pane %s:\n%s", want, tag, p);
	cr_assert_not_null(strstr(p, "TTY-RESTORED"), "pane %s: stty settings changed:\n%s", tag, p);
	free(p);
}

/* ---- the tests ---- */

Test(ctl, start_list_screen_send_keys_resize_stop)
{
	setup();
	char id[16];
	start_demo(id);

	/* list: a header, then the session with its owner, the CLI's user */
	struct res r = cli("list");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "OWNER"), "%s", r.out);
	char *line = strstr(r.out, id);
	cr_assert_not_null(line, "%s", r.out);
	char f[7][64] = {{0}};
	cr_assert_eq(sscanf(line, "%63s %63s %63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4],
			    f[5], f[6]),
		     7, "%s", line);
	cr_assert_str_eq(f[1], "demo");
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%u", D.port);
	cr_assert_str_eq(f[2], host);
	cr_assert_str_eq(f[3], USER_NAME);
	cr_assert_str_eq(f[5], "running");
	cr_assert_str_eq(f[6], "0");
	res_free(&r);

	cJSON *a = list_json();
	cr_assert_eq(cJSON_GetArraySize(a), 1);
	const cJSON *s = find_session(a, id);
	cr_assert_not_null(s);
	cr_assert_str_eq(jstr(s, "project"), "demo");
	cr_assert_str_eq(jstr(s, "owner"), USER_NAME);
	cr_assert_str_eq(jstr(s, "host"), host);
	cr_assert_str_eq(jstr(s, "state"), "running");
	cr_assert_eq(jnum(s, "cols"), 80);
	cr_assert_eq(jnum(s, "rows"), 24);
	cr_assert_eq(jnum(s, "attached"), 0);
	double created = jnum(s, "created");
	cr_assert(created > (double)time(NULL) - 120 && created <= (double)time(NULL) + 1, "%f", created);
	char workdir[400];
	snprintf(workdir, sizeof(workdir), "%s/demo", TMP);
	cr_assert_str_eq(jstr(s, "workdir"), workdir);
	cJSON_Delete(a);

	/* screen: the banner, from the program's working directory */
	char *scr = wait_screen(id, "tui-ready");
	char want[512];
	snprintf(want, sizeof(want), "tui-ready\npwd=%s/demo\n", TMP);
	cr_assert_not_null(strstr(scr, want), "%s", scr);
	free(scr);

	/* send: the words joined, then Enter */
	r = cli("send", id, "hello", "world");
	cr_assert_eq(r.status, 0, "%s", r.err);
	res_free(&r);
	free(wait_screen(id, "got:hello world"));

	/* keys: letters, ctrl-u (erases the line so far), enter */
	r = cli("keys", id, "x y ctrl-u k*2 e y s enter");
	cr_assert_eq(r.status, 0, "%s", r.err);
	res_free(&r);
	scr = wait_screen(id, "got:kkeys");
	cr_assert_null(strstr(scr, "got:xy"), "ctrl-u did not erase: %s", scr);
	free(scr);
	r = cli("keys", id, "down bogus-key");
	cr_assert_eq(r.status, 1);
	cr_assert_not_null(strstr(r.err, "smrelay keys: "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "bogus-key"), "the message does not name the key: %s", r.err);
	res_free(&r);
	r = cli("keys", id); /* no spec */
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "usage: smrelay keys"), "%s", r.err);
	res_free(&r);

	/* resize: the session and the program's terminal follow */
	r = cli("resize", id, "100x30");
	cr_assert_eq(r.status, 0, "%s", r.err);
	res_free(&r);
	wait_listed(id, 100, 30, 0);
	wait_holder_size(id, "100x30");
	r = cli("resize", id, "1x1");
	cr_assert_eq(r.status, 1);
	cr_assert_not_null(strstr(r.err, "size must be 2..1000 columns"), "%s", r.err);
	res_free(&r);
	r = cli("resize", id, "100");
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "usage: smrelay resize"), "%s", r.err);
	res_free(&r);
	wait_listed(id, 100, 30, 0); /* the refused sizes changed nothing */

	/* stop: gone from the daemon and from the VM */
	r = cli("stop", id);
	cr_assert_eq(r.status, 0, "%s", r.err);
	res_free(&r);
	cr_assert_not(holder_alive(id), "the holder survived stop");
	r = cli("screen", id);
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "smrelay screen: no such session\n");
	res_free(&r);
	a = list_json();
	cr_assert_eq(cJSON_GetArraySize(a), 0);
	cJSON_Delete(a);
	daemon_stop_ok();
	PASSED = 1;
}

Test(ctl, errors_are_clear)
{
	setup();
	/* unknown session: every command that takes one says so, exit 1 */
	static const char *const cmds[][4] = {
		{"screen", "nosuchid"}, {"send", "nosuchid", "hi"}, {"keys", "nosuchid", "enter"},
		{"resize", "nosuchid", "80x24"}, {"stop", "nosuchid"},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct res r = cli_in(STATE, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3], NULL);
		cr_expect_eq(r.status, 1, "%s: exit %d", cmds[i][0], r.status);
		char want[128];
		snprintf(want, sizeof(want), "smrelay %s: no such session\n", cmds[i][0]);
		cr_expect_str_eq(r.err, want, "%s", cmds[i][0]);
		cr_expect_str_empty(r.out, "%s", cmds[i][0]);
		res_free(&r);
	}

	/* usage errors: exit 2 */
	struct res r = cli("start");
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "usage: smrelay start"), "%s", r.err);
	res_free(&r);
	r = cli("screen");
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "usage: smrelay screen"), "%s", r.err);
	res_free(&r);
	r = cli("start", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(r.out, "usage: smrelay start"), "%s", r.out);
	res_free(&r);

	/* hostile or unknown projects: exit 1, the message names the problem */
	r = cli("start", "org/repo;rm");
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "smrelay start: "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "repo 'repo;rm' contains ';'"), "%s", r.err);
	cr_assert_str_empty(r.out);
	res_free(&r);
	r = cli("start", "nosuch");
	cr_assert_eq(r.status, 1);
	cr_assert_not_null(strstr(r.err, "unknown project 'nosuch'"), "%s", r.err);
	res_free(&r);
	cJSON *a = list_json();
	cr_assert_eq(cJSON_GetArraySize(a), 0, "a refused start left a session");
	cJSON_Delete(a);

	/* no daemon: an empty state dir, exit 3 */
	char empty[400];
	snprintf(empty, sizeof(empty), "%s/empty", TMP);
	cr_assert_eq(mkdir(empty, 0700), 0);
	static const char *const nd[][3] = {{"list"}, {"screen", "abcd1234"}, {"start", "demo"}};
	for (size_t i = 0; i < sizeof(nd) / sizeof(nd[0]); i++) {
		r = cli_in(empty, nd[i][0], nd[i][1], nd[i][2], NULL);
		cr_expect_eq(r.status, 3, "%s: exit %d", nd[i][0], r.status);
		cr_expect_not_null(strstr(r.err, "the smrelay daemon is not running"), "%s: %s", nd[i][0],
				   r.err);
		res_free(&r);
	}
	daemon_stop_ok();
	PASSED = 1;
}

/* Terminal modes of a tmux pane: application cursor keys (DECCKM),
 * application keypad, cursor visible, mouse reporting (1000). */
#define MODES "#{keypad_cursor_flag}#{keypad_flag}#{cursor_flag}#{mouse_standard_flag}"

Test(ctl, attach_repaints_types_and_detaches)
{
	setup();
	char id[16];
	start_demo(id);
	send_ok(id, "before-attach");
	free(wait_screen(id, "got:before-attach"));

	tmux_attach("a", 80, 24, id, "");
	free(wait_pane("a", "got:before-attach"));
	/* the repaint is the session's screen */
	wait_pane_equals_screen("a", id);
	wait_listed(id, 80, 24, 1);

	/* typing reaches the program; its output reaches the terminal */
	tmux_ok(tmux("a", "send-keys", "-t", "t", "abc", "Enter"), "send-keys");
	free(wait_pane("a", "got:abc"));
	free(wait_screen(id, "got:abc"));
	wait_pane_equals_screen("a", id);

	/* the program switches modes in the terminal (raw output passes;
	 * the alternate screen does not: the holder's tmux keeps it) */
	send_ok(id, "modes");
	free(wait_pane("a", "modes-on"));
	char v[64];
	pane_format("a", MODES, v, sizeof(v));
	cr_assert_str_eq(v, "1101", "cursor keys, keypad, cursor, mouse: %s", v);

	/* detach: the terminal is given back as it was */
	detach("a");
	wait_ended("a", "detached", 0);
	pane_format("a", MODES, v, sizeof(v));
	cr_assert_str_eq(v, "0010", "after detach: cursor keys, keypad, cursor, mouse: %s", v);
	/* the session goes on without it */
	wait_listed(id, 80, 24, 0);
	send_ok(id, "after-detach");
	free(wait_screen(id, "got:after-detach"));

	/* attaching to a session that does not exist */
	tmux_attach("b", 80, 24, "nosuchid", "");
	char *p = wait_pane("b", "PANE-DONE");
	cr_assert_not_null(strstr(p, "smrelay attach: no such session"), "%s", p);
	cr_assert_not_null(strstr(p, "ATTACH-EXIT=1\n"), "%s", p);
	cr_assert_not_null(strstr(p, "TTY-RESTORED"), "%s", p);
	free(p);
	daemon_stop_ok();
	PASSED = 1;
}

Test(ctl, two_attachers_and_read_only)
{
	setup();
	char id[16];
	start_demo(id);
	tmux_attach("a", 80, 24, id, "");
	tmux_attach("b", 80, 24, id, "");
	free(wait_pane("a", "tui-ready"));
	free(wait_pane("b", "tui-ready"));
	wait_listed(id, 80, 24, 2);

	/* both see new output, whoever caused it */
	send_ok(id, "to-both");
	free(wait_pane("a", "got:to-both"));
	free(wait_pane("b", "got:to-both"));
	tmux_ok(tmux("a", "send-keys", "-t", "t", "from-a", "Enter"), "send-keys");
	free(wait_pane("b", "got:from-a"));
	free(wait_pane("a", "got:from-a"));
	wait_pane_equals_screen("a", id);
	wait_pane_equals_screen("b", id);

	/* read-only, from a larger terminal: sees, does not resize */
	tmux_attach("ro", 100, 30, id, "--read-only");
	free(wait_pane("ro", "got:from-a"));
	wait_listed(id, 80, 24, 3);
	send_ok(id, "ro-sees");
	free(wait_pane("ro", "got:ro-sees"));
	/* its keystrokes do not reach the program: type, then detach (the
	 * detach proves the client read them), then a marker through the
	 * same PTY: once the marker is echoed, the typing would be too */
	tmux_ok(tmux("ro", "send-keys", "-t", "t", "typed-ro", "Enter"), "send-keys");
	detach("ro");
	wait_ended("ro", "detached", 0);
	send_ok(id, "after-ro");
	char *scr = wait_screen(id, "got:after-ro");
	cr_assert_null(strstr(scr, "typed-ro"), "a read-only client typed:\n%s", scr);
	free(scr);
	char *p = wait_pane("a", "got:after-ro");
	cr_assert_null(strstr(p, "typed-ro"), "%s", p);
	free(p);
	wait_listed(id, 80, 24, 2);

	detach("a");
	detach("b");
	wait_ended("a", "detached", 0);
	wait_ended("b", "detached", 0);
	wait_listed(id, 80, 24, 0);
	daemon_stop_ok();
	PASSED = 1;
}

Test(ctl, attach_size_policy)
{
	setup();
	char id[16];
	start_demo(id);
	wait_listed(id, 80, 24, 0);
	/* an interactive attach from 100x30 resizes the session to it */
	tmux_attach("a", 100, 30, id, "");
	free(wait_pane("a", "tui-ready"));
	wait_listed(id, 100, 30, 1);
	wait_holder_size(id, "100x30");
	/* the terminal changes size: the session follows */
	tmux_ok(tmux("a", "resize-window", "-t", "t", "-x", "90", "-y", "28"), "resize-window");
	wait_listed(id, 90, 28, 1);
	wait_holder_size(id, "90x28");
	send_ok(id, "at-90x28");
	free(wait_pane("a", "got:at-90x28"));
	wait_pane_equals_screen("a", id);
	/* the last interactive client leaves: the size from before comes back */
	detach("a");
	wait_ended("a", "detached", 0);
	wait_listed(id, 80, 24, 0);
	wait_holder_size(id, "80x24");
	daemon_stop_ok();
	PASSED = 1;
}

/* In a child as uid/gid: connect and send one request; writes
 * "connect-errno N" or the reply line to fd. */
static void child_request(int fd, uid_t uid, gid_t gid, const char *req)
{
	signal(SIGPIPE, SIG_IGN);
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		dprintf(fd, "setuid failed");
		_exit(1);
	}
	int cerr;
	char *r = raw_request(SOCK, req, &cerr);
	if (cerr)
		dprintf(fd, "connect-errno %d", cerr);
	else
		dprintf(fd, "%s", r ? r : "no reply");
	free(r);
	_exit(0);
}

static void as_other_user(uid_t uid, gid_t gid, const char *req, char *out, size_t len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child_request(p[1], uid, gid, req);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n < len - 1 && (r = read(p[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child as uid %ld (status %#x): %s",
		  (long)uid, st, out);
}

Test(ctl, other_user_is_refused)
{
	setup();
	struct stat st;
	cr_assert_eq(lstat(SOCK, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "the socket's mode is %o", st.st_mode & 07777);
	cr_assert_eq(st.st_uid, geteuid());
	if (geteuid() != 0) {
		daemon_stop_ok();
		PASSED = 1;
		cr_skip_test("not root: cannot run a second user to check the refusal");
	}
	uid_t uid = 65534;
	gid_t gid = 65534;
	struct passwd *pw = getpwnam("nobody");
	if (pw) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	char id[16];
	start_demo(id);
	static struct envv e;
	envv_cli(&e, STATE);

	/* as created: the file system refuses the connection */
	char out[1024];
	as_other_user(uid, gid, "{\"v\":1,\"cmd\":\"list\"}\n", out, sizeof(out));
	char want[64];
	snprintf(want, sizeof(want), "connect-errno %d", EACCES);
	cr_assert_str_eq(out, want);
	struct res r = run_as(uid, gid, (char *[]){SR_SMRELAY_BIN, "list", NULL}, e.p);
	cr_assert_eq(r.status, 3, "exit %d: %s%s", r.status, r.out, r.err);
	cr_assert_not_null(strstr(r.err, "permission denied"), "%s", r.err);
	cr_assert_str_empty(r.out);
	res_free(&r);

	/* with the path opened up, the daemon itself refuses (SO_PEERCRED) */
	cr_assert_eq(chmod(TMP, 0711), 0);
	cr_assert_eq(chmod(STATE, 0711), 0);
	cr_assert_eq(chmod(SOCK, 0666), 0);
	as_other_user(uid, gid, "{\"v\":1,\"cmd\":\"list\"}\n", out, sizeof(out));
	cJSON *j = cJSON_Parse(out);
	cr_assert_not_null(j, "not a JSON reply: %s", out);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "ok")), "%s", out);
	cr_assert_str_eq(jstr(j, "code"), "EACCES");
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(j, "sessions"), "%s", out);
	cJSON_Delete(j);
	/* the same through the CLI: a clear message, exit 1. (Expectations, so
	 * the checks below still run: the CLI dies of SIGPIPE, exit 141 with
	 * no message, when the refusing daemon closes before it has written
	 * its request; see the report.) */
	r = run_as(uid, gid, (char *[]){SR_SMRELAY_BIN, "stop", id, NULL}, e.p);
	cr_expect_eq(r.status, 1, "stop as %ld: exit %d: %s%s", (long)uid, r.status, r.out, r.err);
	cr_expect_not_null(strstr(r.err, "smrelay stop: permission denied"), "stop: '%s'", r.err);
	res_free(&r);
	r = run_as(uid, gid, (char *[]){SR_SMRELAY_BIN, "start", "demo", NULL}, e.p);
	cr_expect_eq(r.status, 1, "start as %ld: exit %d: %s%s", (long)uid, r.status, r.out, r.err);
	cr_expect_not_null(strstr(r.err, "smrelay start: permission denied"), "start: '%s'", r.err);
	res_free(&r);
	/* (a race: repeated, so that losing it is all but certain) */
	int bad = 0;
	for (int i = 0; i < 10; i++) {
		r = run_as(uid, gid, (char *[]){SR_SMRELAY_BIN, "list", NULL}, e.p);
		if (r.status != 1 || !strstr(r.err, "smrelay list: permission denied") || r.out[0]) {
			cr_expect_fail("list as %ld, run %d: exit %d: '%s' '%s'", (long)uid, i, r.status,
				       r.out, r.err);
			bad++;
		}
		res_free(&r);
		if (bad)
			break;
	}
	/* nothing happened: the session is there, no other was started */
	cJSON *a = list_json();
	cr_assert_eq(cJSON_GetArraySize(a), 1);
	cr_assert_not_null(find_session(a, id));
	cJSON_Delete(a);
	cr_assert(holder_alive(id));
	char *log = slurp(LOG);
	cr_assert_not_null(log);
	char refused[128];
	snprintf(refused, sizeof(refused), "refused %s (uid %ld)", pw ? pw->pw_name : "uid65534",
		 (long)uid);
	cr_assert_not_null(strstr(log, refused), "%s", log);
	free(log);
	daemon_stop_ok();
	PASSED = 1;
}

Test(ctl, daemon_killed_and_restarted)
{
	setup();
	char id[16];
	start_demo(id);
	send_ok(id, "before-kill");
	free(wait_screen(id, "got:before-kill"));
	cr_assert_eq(kill(DAEMON, SIGKILL), 0);
	int st;
	cr_assert_eq(waitpid(DAEMON, &st, 0), DAEMON);
	cr_assert(WIFSIGNALED(st));
	DAEMON = 0;
	/* its socket file is left behind, and nobody answers */
	struct stat sb;
	cr_assert_eq(lstat(SOCK, &sb), 0);
	struct res r = cli("list");
	cr_assert_eq(r.status, 3);
	cr_assert_not_null(strstr(r.err, "not running"), "%s", r.err);
	res_free(&r);
	cr_assert(holder_alive(id));

	daemon_start(); /* same state dir: replaces the stale socket */
	daemon_wait();
	cJSON *a = list_json();
	cr_assert_eq(cJSON_GetArraySize(a), 1);
	const cJSON *s = find_session(a, id);
	cr_assert_not_null(s);
	cr_assert_str_eq(jstr(s, "owner"), USER_NAME);
	cr_assert_str_eq(jstr(s, "project"), "demo");
	cJSON_Delete(a);
	char *scr = wait_screen(id, "got:before-kill");
	cr_assert_not_null(strstr(scr, "tui-ready"), "%s", scr);
	free(scr);
	send_ok(id, "after-restart");
	free(wait_screen(id, "got:after-restart"));
	daemon_stop_ok();
	PASSED = 1;
}

Test(ctl, sigterm_leaves_sessions_running)
{
	setup();
	char id[16];
	start_demo(id);
	tmux_attach("a", 80, 24, id, "");
	free(wait_pane("a", "tui-ready"));
	wait_listed(id, 80, 24, 1);
	int st = daemon_term();
	cr_assert_eq(st, 0, "the daemon exited with status %d after SIGTERM", st);
	log_clean();
	struct stat sb;
	cr_assert_eq(lstat(SOCK, &sb), -1, "the socket file is still there");
	cr_assert_eq(errno, ENOENT);
	cr_assert(holder_alive(id), "the session did not survive the daemon");
	/* the attached terminal is given back when the daemon goes */
	wait_ended("a", "the smrelay daemon went away", 1);
	struct res r = cli("list");
	cr_assert_eq(r.status, 3);
	cr_assert_not_null(strstr(r.err, "not running"), "%s", r.err);
	res_free(&r);
	PASSED = 1;
}
