/* test_scenario.c — the README's "In Mattermost" scenario end to end with
 * every real part a separate process: the `smrelay serve` binary (in the
 * ASan build, the ASan binary) as a child with a controlled environment, a
 * real OpenSSH sshd on loopback (tests/sshd_harness.h) as the VM, the
 * fake Mattermost (tests/fake_mm.h), the fake OPNsense over HTTPS with a
 * throwaway CA (tests/test_fw_support.h) as the firewall, the podman
 * runtime through the fake-podman shim (tests/tools/fake-podman, wrapped
 * with this test's own state root, as test_relay.c does), and a test TUI
 * standing in for Claude.
 *
 * alice posts `@claude start demo` → the bot's thread says the session is
 * running and shows the TUI's screen → alice types a task in the thread →
 * the TUI fails to reach files.example.org and prints the marker → an
 * approval card appears → alice clicks Approve (through the fake, which
 * calls the daemon's callback) → the OPNsense alias holds the host and was
 * reconfigured (its pf table has the host's address from the fake DNS) →
 * the TUI receives `[NETWORK_APPROVED: files.example.org]` and continues
 * (seen in the live post) → `@claude stop` → "ended", the container and
 * its holder are gone, the session-scoped approval left the alias, the
 * audit log has alice's decision → SIGTERM: exit 0, no sanitizer report
 * and no secret in the daemon's log.
 *
 * The test talks to the daemon only as Mattermost and the firewall would;
 * a blocking call from here is fine, the daemon is another process.
 * GUARD_S only guards against hangs; nothing asserts on timing. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_mm.h"
#include "sshd_harness.h"
#include "test_fw_support.h"

#define GUARD_S 20.0
#define HOST "files.example.org"
#define HOST_IP "192.0.2.44"
#define ALIAS "llm_approved_domains"
#define OPN_KEY "admin-key"
#define OPN_SECRET "admin-secret"
#define AGENT_KEY "scenario-agent-key-6d1f"

static struct sshd D;
static struct fake_mm F;
static struct fwt_fake FK;
static char TMP[256];       /* everything of this test */
static char LOG[320];       /* the daemon's stdout + stderr */
static char AUDIT[320];     /* SM_AUDIT_LOG */
static char PODMAN[320];    /* the fake-podman wrapper (SM_CONTAINER_RUNTIME_BIN) */
static char SID[16];        /* the session, once known: its holder goes in .fini */
static unsigned PORT;       /* the daemon's HTTP listener */
static pid_t DAEMON;
static int PASSED;          /* no log dump in .fini */

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

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

static void shell(const char *cmd)
{
	if (system(cmd) < 0) {
	}
}

/* A command's stdout (malloc'ed, at most 16 KiB) and its exit status. */
static char *capture(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s", cmd);
	char *out = calloc(1, 16384);
	cr_assert_not_null(out);
	size_t n = fread(out, 1, 16383, p);
	out[n] = '\0';
	int st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	return out;
}

/* ---- the daemon ---- */

struct envv {
	char s[40][1200];
	char *p[41];
	size_t n;
};

static void envv_set(struct envv *e, const char *name, const char *value)
{
	size_t nl = strlen(name), i = 0;
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

/* The test TUI: a banner; a task that needs the network fails, prints the
 * marker and waits for the verdict; the approval lets it finish. */
static const char TUI[] =
	"#!/bin/sh\n"
	"echo \"tui-ready: what shall I do? (key ${SMRELAY_SCENARIO_KEY:+forwarded})\"\n"
	"while IFS= read -r l; do\n"
	"  case \"$l\" in\n"
	"  '[NETWORK_APPROVED: " HOST "]')\n"
	"    echo 'retrying https://" HOST "/dataset.tar.gz'\n"
	"    echo 'download-finished: dataset.tar.gz from " HOST "' ;;\n"
	"  '[NETWORK_DENIED: '*) echo 'giving up' ;;\n"
	"  *dataset*)\n"
	"    echo 'fetching https://" HOST "/dataset.tar.gz'\n"
	"    echo 'curl: (7) Failed to connect to " HOST " port 443: Connection refused'\n"
	"    echo '[NETWORK_REQUEST: " HOST "]' ;;\n"
	"  *) echo \"got:$l\" ;;\n"
	"  esac\n"
	"done\n";

/* A loopback port nobody listens on right now. */
static unsigned free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void daemon_env(struct envv *e)
{
	char buf[1024];
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
	/* the VM: the test sshd; the agent: the TUI in a fake-podman container */
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", D.port);
	envv_set(e, "SM_VM_HOST", buf);
	envv_set(e, "SM_VM_USER", D.user);
	envv_set(e, "SM_VM_SSH_KEY_PATH", D.user_key);
	envv_set(e, "SM_VM_KNOWN_HOSTS", D.known_hosts);
	envv_set(e, "SM_CONTAINER_RUNTIME", "podman");
	envv_set(e, "SM_CONTAINER_RUNTIME_BIN", PODMAN);
	envv_set(e, "SM_CONTAINER_IMAGE", "localhost/smrelay-agent:test");
	/* a secret for the agent: forwarded, never shown */
	envv_set(e, "SM_CONTAINER_ENV", "SMRELAY_SCENARIO_KEY");
	envv_set(e, "SMRELAY_SCENARIO_KEY", AGENT_KEY);
	snprintf(buf, sizeof(buf), "%s/tui.sh", TMP);
	envv_set(e, "SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	envv_set(e, "SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/state", TMP);
	envv_set(e, "SM_STATE_DIR", buf);
	snprintf(buf, sizeof(buf), "%s/repos", TMP);
	envv_set(e, "SM_REPOS_BASE_PATH", buf);
	snprintf(buf, sizeof(buf), "%s/worktrees", TMP);
	envv_set(e, "SM_WORKTREES_PATH", buf);
	envv_set(e, "SM_COLS", "80");
	envv_set(e, "SM_ROWS", "24");
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", PORT);
	envv_set(e, "SM_LISTEN_ADDR", buf);
	/* Mattermost */
	envv_set(e, "SM_MM_URL", F.url);
	envv_set(e, "SM_MM_TOKEN", F.bot_token);
	envv_set(e, "SM_ALLOWED_USERS", "alice");
	envv_set(e, "SM_AUDIT_LOG", AUDIT);
	/* the firewall: OPNsense over verified TLS */
	envv_set(e, "SM_FIREWALL", "opnsense");
	envv_set(e, "SM_OPNSENSE_URL", FK.url);
	envv_set(e, "SM_OPNSENSE_KEY", OPN_KEY);
	envv_set(e, "SM_OPNSENSE_SECRET", OPN_SECRET);
	envv_set(e, "SM_OPNSENSE_ALIAS", ALIAS);
	envv_set(e, "SM_OPNSENSE_CA_FILE", FK.ca);
	envv_set(e, "SM_LOG_LEVEL", "debug");
}

static int daemon_exited(int *status)
{
	int st;
	if (DAEMON <= 0 || waitpid(DAEMON, &st, WNOHANG) != DAEMON)
		return 0;
	DAEMON = 0;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 1;
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
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even a crashed one */
		if (getppid() != parent)
			_exit(1);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execve(SR_SMRELAY_BIN, (char *[]){SR_SMRELAY_BIN, "serve", NULL}, e.p);
		_exit(127);
	}
	close(log);
	DAEMON = pid;
}

struct body {
	char *d;
	size_t n;
};

static size_t collect(char *data, size_t size, size_t n, void *userp)
{
	struct body *b = userp;
	char *nd = realloc(b->d, b->n + size * n + 1);
	if (!nd)
		return 0;
	b->d = nd;
	memcpy(b->d + b->n, data, size * n);
	b->n += size * n;
	b->d[b->n] = '\0';
	return size * n;
}

/* GET http://127.0.0.1:PORT<path>: the status (0: no answer), *out the body. */
static long daemon_get(const char *path, char **out)
{
	CURL *c = curl_easy_init();
	cr_assert_not_null(c);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", PORT, path);
	struct body b = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	long code = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (out)
		*out = b.d ? b.d : strdup("");
	else
		free(b.d);
	return code;
}

/* Starts the daemon on a free port and waits until /readyz says ready
 * (the VM connected, Mattermost connected). A port taken between the
 * probe and the daemon's bind is retried with another one. */
static void daemon_up(void)
{
	for (int attempt = 0;; attempt++) {
		PORT = free_port();
		daemon_start();
		double end = now_s() + GUARD_S;
		char *last = NULL;
		for (;;) {
			int st;
			if (daemon_exited(&st)) {
				char *log = fwt_read_file(LOG);
				int busy = log && strstr(log, "SM_LISTEN_ADDR") && strstr(log, "in use");
				if (busy && attempt < 3) {
					free(log);
					break;
				}
				cr_assert_fail("the daemon exited at start (status %d); log:\n%s", st,
					       log ? log : "");
			}
			free(last);
			last = NULL;
			if (daemon_get("/readyz", &last) == 200) {
				free(last);
				return;
			}
			cr_assert(now_s() < end, "the daemon is not ready: %s", last ? last : "(no answer)");
			sleep_ms(50);
		}
		free(last);
	}
}

/* SIGTERM: the exit status. */
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
	return st;
}

/* ---- Mattermost, as the webapp and the server would act ---- */

static char *fake_posts(void)
{
	char path[200];
	snprintf(path, sizeof(path), "/_fake/posts?channel_id=%s", F.town_id);
	long st = 0;
	char *body = NULL;
	cr_assert_eq(fake_mm_call(&F, "GET", path, NULL, &st, &body), 0, "%s", F.err);
	cr_assert_eq(st, 200, "%s", body);
	return body;
}

/* A user posts in town (in the thread root when set); the post's id. */
static void user_post(const char *user, const char *root, const char *msg, char *id, size_t idlen)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddStringToObject(o, "channel_id", F.town_id);
	if (root)
		cJSON_AddStringToObject(o, "root_id", root);
	cJSON_AddStringToObject(o, "message", msg);
	char *b = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	long st = 0;
	char *resp = NULL;
	cr_assert_eq(fake_mm_call(&F, "POST", "/_fake/post", b, &st, &resp), 0, "%s", F.err);
	free(b);
	cr_assert(st == 200 || st == 201, "post: %ld %s", st, resp);
	cJSON *r = cJSON_Parse(resp);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(r, "id");
	cr_assert(cJSON_IsString(pid), "%s", resp);
	if (id)
		snprintf(id, idlen, "%s", pid->valuestring);
	cJSON_Delete(r);
	free(resp);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* A post by the bot in the thread `root` whose current message (not an
 * older version) contains text; with card set, an approval card (props
 * with the buttons) whose JSON contains text. Copies its id and message. */
static int find_post(const char *posts_json, const char *root, const char *text, int card, char *id,
		     size_t idlen, char *msg, size_t msglen)
{
	cJSON *o = cJSON_Parse(posts_json);
	cr_assert_not_null(o);
	const cJSON *p;
	int found = 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "posts"))
	{
		if (strcmp(jstr(p, "user_id"), F.bot_id) || strcmp(jstr(p, "root_id"), root))
			continue;
		const cJSON *da = cJSON_GetObjectItemCaseSensitive(p, "delete_at");
		if (cJSON_IsNumber(da) && da->valuedouble > 0)
			continue;
		int hit;
		if (card) {
			char *props = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "props"));
			hit = props && strstr(props, text) && strstr(props, "\"approve\"");
			free(props);
		} else {
			hit = strstr(jstr(p, "message"), text) != NULL;
		}
		if (!hit)
			continue;
		if (id)
			snprintf(id, idlen, "%s", jstr(p, "id"));
		if (msg)
			snprintf(msg, msglen, "%s", jstr(p, "message"));
		found = 1;
	}
	cJSON_Delete(o);
	return found;
}

/* Polls the channel until find_post succeeds. */
static void wait_post(const char *root, const char *text, int card, char *id, size_t idlen, char *msg,
		      size_t msglen)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *p = fake_posts();
		int ok = find_post(p, root, text, card, id, idlen, msg, msglen);
		if (!ok && now_s() > end) {
			size_t len = strlen(p);
			cr_assert_fail("no %s with '%s' in the thread %s; the channel's posts (the end):\n%s",
				       card ? "card" : "post", text, root, p + (len > 6000 ? len - 6000 : 0));
		}
		free(p);
		if (ok)
			return;
		sleep_ms(100);
	}
}

/* ---- the firewall's and the runtime's view ---- */

/* Until the fake OPNsense's alias content has (want) or lacks (!want) HOST. */
static cJSON *wait_alias(int want)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		cJSON *st = fwt_fake_state(&FK);
		const char *c = fwt_alias_content(st, ALIAS);
		int has = c && strstr(c, HOST) != NULL;
		if (has == want)
			return st;
		cr_assert(now_s() < end, "the alias %s %s " HOST ": '%s'", ALIAS,
			  want ? "never got" : "still has", c ? c : "(no alias)");
		cJSON_Delete(st);
		sleep_ms(100);
	}
}

/* The containers labelled for the session, as `podman ps -a` lists them. */
static char *containers(int *status)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "'%s' ps -a -q --filter label=smrelay.session=%s", PODMAN, SID);
	return capture(cmd, status);
}

static int holder_alive(void)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "env -u TMUX -u TMUX_TMPDIR tmux -L smrelay-%s has-session 2>/dev/null",
		 SID);
	return system(cmd) == 0;
}

/* The audit log's records for HOST (a cJSON array; the caller deletes it). */
static cJSON *audit_records(void)
{
	char *a = fwt_read_file(AUDIT);
	cr_assert_not_null(a, "no audit log at %s", AUDIT);
	cJSON *arr = cJSON_CreateArray();
	for (char *line = strtok(a, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *r = cJSON_Parse(line);
		cr_assert_not_null(r, "an audit line is not JSON: %s", line);
		if (!strcmp(jstr(r, "host"), HOST))
			cJSON_AddItemToArray(arr, r);
		else
			cJSON_Delete(r);
	}
	free(a);
	return arr;
}

/* The record with these fields (NULL: any value), or NULL. */
static const cJSON *audit_find(const cJSON *recs, const char *action, const char *op, const char *user,
			       const char *result)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, recs)
	{
		if (strcmp(jstr(r, "action"), action) || (op && strcmp(jstr(r, "op"), op)) ||
		    (user && strcmp(jstr(r, "user"), user)) || (result && strcmp(jstr(r, "result"), result)))
			continue;
		return r;
	}
	return NULL;
}

/* ---- setup and cleanup ---- */

static void teardown(void)
{
	if (DAEMON > 0) {
		kill(DAEMON, SIGKILL);
		waitpid(DAEMON, NULL, 0);
		DAEMON = 0;
	}
	char cmd[1200];
	if (PODMAN[0] && access(PODMAN, X_OK) == 0) {
		/* every container of this test's root, with its processes */
		snprintf(cmd, sizeof(cmd), "'%s' rm -f -a >/dev/null 2>&1", PODMAN);
		shell(cmd);
	}
	if (SID[0]) {
		snprintf(cmd, sizeof(cmd),
			 "env -u TMUX -u TMUX_TMPDIR tmux -L smrelay-%s kill-server >/dev/null 2>&1; "
			 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%s\"",
			 SID, SID);
		shell(cmd);
	}
	fake_mm_stop(&F);
	fwt_fake_stop(&FK);
	sshd_stop(&D);
	if (!PASSED && LOG[0]) {
		char *log = fwt_read_file(LOG);
		if (log && *log)
			fprintf(stderr, "---- smrelay serve log (%s) ----\n%s---- end of log ----\n", LOG, log);
		free(log);
	}
	if (TMP[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		shell(cmd);
	}
	TMP[0] = LOG[0] = AUDIT[0] = PODMAN[0] = SID[0] = '\0';
	PASSED = 0;
}

TestSuite(scenario, .fini = teardown);

static void setup(void)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	if (!fake_mm_available())
		cr_skip_test("the fake Mattermost needs /usr/bin/python3 with python3-aiohttp");
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		cr_skip_test("openssl is not installed (the fake OPNsense's certificate)");
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-scenario-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	snprintf(LOG, sizeof(LOG), "%s/daemon.log", TMP);
	snprintf(AUDIT, sizeof(AUDIT), "%s/audit.jsonl", TMP);
	char path[600], buf[1400];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, TUI, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	cr_assert_eq(mkdir(path, 0755), 0);
	/* The shim runs under sshd, which passes no environment: a wrapper
	 * gives it this test's own state root. */
	snprintf(PODMAN, sizeof(PODMAN), "%s/podman", TMP);
	snprintf(buf, sizeof(buf), "#!/bin/sh\nFAKE_PODMAN_ROOT='%s/fake-root' exec '%s/fake-podman' \"$@\"\n",
		 TMP, SR_TOOLS_DIR);
	write_file(PODMAN, buf, 0755);

	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	cr_assert_eq(fake_mm_start(&F, NULL), 0, "fake_mm_start: %s", F.err);
	fwt_fake_start(&FK);
	fwt_fake_config(&FK, "{\"dns\":{\"" HOST "\":[\"" HOST_IP "\"],\"pypi.org\":[\"151.101.0.223\"]}}");
	daemon_up();
}

Test(scenario, start_marker_approve_firewall_stop)
{
	setup();

	/* start: the bot answers in the command's thread, then the screen */
	char root[64], msg[4096], card[64];
	user_post("alice", NULL, "@claude start demo", root, sizeof(root));
	wait_post(root, "is running", 0, NULL, 0, msg, sizeof(msg));
	const char *tick = strstr(msg, "Session `");
	cr_assert_not_null(tick, "%s", msg);
	cr_assert_eq(sscanf(tick, "Session `%15[a-z0-9]`", SID), 1, "%s", msg);
	cr_assert_eq(strlen(SID), 8, "session id '%s' in: %s", SID, msg);
	wait_post(root, "tui-ready: what shall I do? (key forwarded)", 0, NULL, 0, msg, sizeof(msg));
	cr_assert_not_null(strstr(msg, "```"), "the screen is not in a code block: %s", msg);
	/* the agent runs in its container, under the session's holder */
	int st;
	char *ps = containers(&st);
	cr_assert_eq(st, 0, "podman ps failed");
	cr_assert(ps[0], "no container labelled smrelay.session=%s", SID);
	free(ps);
	cr_assert(holder_alive(), "no holder tmux -L smrelay-%s", SID);
	cJSON *fw = fwt_fake_state(&FK);
	const char *content = fwt_alias_content(fw, ALIAS);
	cr_assert_not_null(content, "the fake has no alias " ALIAS);
	cr_assert_null(strstr(content, HOST), "allowed before anyone approved: %s", content);
	cJSON_Delete(fw);

	/* a message in the thread: the program fails to reach a host */
	user_post("alice", root, "please fetch the dataset", NULL, 0);
	wait_post(root, "[NETWORK_REQUEST: " HOST "]", 0, NULL, 0, NULL, 0);
	/* the approval card, in the thread, with the lines around the marker */
	wait_post(root, "Network access requested: " HOST, 1, card, sizeof(card), NULL, 0);
	char *p = fake_posts();
	cr_assert(find_post(p, root, "Failed to connect to " HOST, 1, NULL, 0, NULL, 0),
		  "the card lacks the lines around the marker");
	cr_assert_null(strstr(p, "download-finished"), "the program went on before the approval");
	free(p);
	char *metrics = NULL;
	cr_assert_eq(daemon_get("/metrics", &metrics), 200);
	cr_assert_not_null(strstr(metrics, "smrelay_pending_approvals 1\n"), "%s", metrics);
	free(metrics);
	/* nothing reached the firewall yet */
	fw = fwt_fake_state(&FK);
	cr_assert_null(strstr(fwt_alias_content(fw, ALIAS), HOST));
	cr_assert_eq(fwt_calls(fw, "set_item"), 0, "the firewall was written before the approval");
	cJSON_Delete(fw);

	/* alice clicks Approve: the fake calls the daemon's callback */
	char body[300];
	snprintf(body, sizeof(body), "{\"user\":\"alice\",\"post_id\":\"%s\",\"action_id\":\"approve\"}", card);
	long code = 0;
	char *resp = NULL;
	cr_assert_eq(fake_mm_call(&F, "POST", "/_fake/click", body, &code, &resp), 0, "%s", F.err);
	cr_assert_eq(code, 200, "%s", resp);
	cJSON *click = cJSON_Parse(resp);
	cr_assert_not_null(click, "%s", resp);
	const cJSON *integ = cJSON_GetObjectItemCaseSensitive(click, "integration");
	const cJSON *ist = cJSON_GetObjectItemCaseSensitive(integ, "status");
	cr_assert(cJSON_IsNumber(ist) && ist->valueint == 200, "the callback's answer: %s", resp);
	const cJSON *cst = cJSON_GetObjectItemCaseSensitive(click, "status");
	cr_assert(cJSON_IsNumber(cst) && cst->valueint == 200, "the click: %s", resp);
	cJSON_Delete(click);
	free(resp);

	/* the firewall: the alias holds the host and was applied (the pf
	 * table has the host's address, which only a reconfigure puts there) */
	fw = wait_alias(1);
	double end = now_s() + GUARD_S;
	for (;;) {
		char *pf = fwt_pf_table(fw, ALIAS);
		/* the fake logs a call after answering it: wait for both */
		int applied = strstr(pf, HOST_IP) != NULL && fwt_calls(fw, "reconfigure") >= 1;
		if (!applied && now_s() > end)
			cr_assert_fail("the alias was not applied: pf table '%s', %d reconfigure call(s)", pf,
				       fwt_calls(fw, "reconfigure"));
		free(pf);
		if (applied)
			break;
		cJSON_Delete(fw);
		sleep_ms(100);
		fw = fwt_fake_state(&FK);
	}
	cr_assert_geq(fwt_calls(fw, "set_item"), 1);
	cr_assert_geq(fwt_calls(fw, "reconfigure"), 1, "the alias was saved but never reconfigured");
	cr_assert_str_eq(fwt_alias_content(fw, ALIAS), HOST);
	cJSON_Delete(fw);

	/* the program heard the approval and went on: the live post shows it */
	wait_post(root, "download-finished: dataset.tar.gz from " HOST, 0, NULL, 0, msg, sizeof(msg));
	cr_assert_not_null(strstr(msg, "[NETWORK_APPROVED: " HOST "]"), "%s", msg);
	cr_assert_not_null(strstr(msg, "```"), "%s", msg);
	/* the card records the decision and has no buttons left */
	end = now_s() + GUARD_S;
	for (;;) {
		p = fake_posts();
		int open = find_post(p, root, "Network access requested: " HOST, 1, NULL, 0, NULL, 0);
		int done = strstr(p, "Approved by @alice") && strstr(p, HOST " is allowed");
		free(p);
		if (!open && done)
			break;
		cr_assert(now_s() < end, "the card was not updated (buttons left: %d, outcome shown: %d)", open,
			  done);
		sleep_ms(100);
	}
	cr_assert_eq(daemon_get("/metrics", &metrics), 200);
	cr_assert_not_null(strstr(metrics, "smrelay_approvals_total{result=\"approved\"} 1\n"), "%s", metrics);
	cr_assert_not_null(strstr(metrics, "smrelay_pending_approvals 0\n"), "%s", metrics);
	free(metrics);

	/* @claude stop in the thread */
	user_post("alice", root, "@claude stop", NULL, 0);
	char want[64];
	snprintf(want, sizeof(want), "Session `%s` ended: stopped", SID);
	wait_post(root, want, 0, NULL, 0, NULL, 0);
	/* the container is gone, and the holder with it */
	end = now_s() + GUARD_S;
	for (;;) {
		ps = containers(&st);
		int gone = st == 0 && !ps[0];
		if (!gone && now_s() > end)
			cr_assert_fail("the container is still there (ps exit %d):\n%s", st, ps);
		free(ps);
		if (gone)
			break;
		sleep_ms(100);
	}
	cr_assert(!holder_alive(), "the holder tmux -L smrelay-%s outlived the container", SID);
	/* the approval was for the session: it left the alias with it */
	fw = wait_alias(0);
	cJSON_Delete(fw);

	/* the audit log has alice's decision and the firewall's result */
	cJSON *recs = audit_records();
	char *dump = cJSON_Print(recs);
	cr_assert_not_null(audit_find(recs, "add", NULL, "alice", "queued"), "no approval by alice:\n%s", dump);
	const cJSON *ok = audit_find(recs, "applied", "add", "alice", "ok");
	cr_assert_not_null(ok, "no applied add for alice:\n%s", dump);
	cr_assert_str_eq(jstr(ok, "backend"), "opnsense", "%s", dump);
	cr_assert_str_eq(jstr(ok, "session"), SID, "%s", dump);
	cr_assert_not_null(audit_find(recs, "applied", "remove", NULL, "ok"), "no applied remove:\n%s", dump);
	free(dump);
	cJSON_Delete(recs);

	/* SIGTERM: a clean exit; nothing from the sanitizers, no secret */
	st = daemon_term();
	char *log = fwt_read_file(LOG);
	cr_assert_not_null(log);
	cr_assert_eq(st, 0, "the daemon exited with status %d after SIGTERM; log:\n%s", st, log);
	cr_assert(!strstr(log, "Sanitizer") && !strstr(log, "runtime error:"),
		  "the daemon's log has a sanitizer report:\n%s", log);
	cr_assert_null(strstr(log, OPN_SECRET), "the OPNsense secret is in the log");
	cr_assert_null(strstr(log, F.bot_token), "the Mattermost token is in the log");
	cr_assert_null(strstr(log, AGENT_KEY), "the agent's secret is in the log");
	p = fake_posts();
	cr_assert_null(strstr(p, AGENT_KEY), "the agent's secret is in Mattermost");
	free(p);
	char *audit = fwt_read_file(AUDIT);
	cr_assert_null(strstr(audit, OPN_SECRET), "the OPNsense secret is in the audit log");
	free(audit);
	free(log);
	PASSED = 1;
}
