/* bench_fw.c — the OPNsense backend against the fake OPNsense
 * (tests/fake_opnsense) over HTTPS on loopback: HTTP calls per approval
 * and time per add/remove, end to end through fw_add and the poll loop.
 * Prints figures; asserts nothing. The fake answers at once (no apply
 * delay), so the times are this side's and the fake's overhead, not a real
 * firewall's reconfigure (seconds there).
 *
 *   bench_fw [approvals]     (default 20)
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fw.h"

extern char **environ;

static char dir[256], ca[320], url[64];
static pid_t fake_pid;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void rm_dir(void)
{
	char p[400];
	const char *files[] = {"cert.pem", "key.pem", "audit.jsonl", "state/fw-approvals.json",
			       "state/opnsense-llm_approved_domains.apply-pending", "state/fw-approvals.json.tmp"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/state", dir);
	rmdir(p);
	rmdir(dir);
}

static int start_fake(void)
{
	snprintf(dir, sizeof(dir), "/tmp/smrelay-bench-fw-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char key[320];
	snprintf(ca, sizeof(ca), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	char *ossl[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", ca,
			"-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
			"subjectAltName=IP:127.0.0.1", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int st;
	if (posix_spawnp(&pid, "openssl", &fa, NULL, ossl, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	int p[2];
	if (pipe(p) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *argv[] = {FW_PYTHON3, FW_FAKE_OPNSENSE, "--cert", ca, "--key", key, NULL};
	int rc = posix_spawn(&fake_pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0)
		return -1;
	char line[64] = "";
	size_t len = 0;
	while (!strchr(line, '\n') && len + 1 < sizeof(line)) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (poll(&pf, 1, 10000) <= 0)
			break;
		ssize_t r = read(p[0], line + len, sizeof(line) - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		line[len] = '\0';
	}
	close(p[0]);
	int port;
	if (sscanf(line, "PORT %d", &port) != 1)
		return -1;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	return 0;
}

static size_t collect(char *d, size_t s, size_t n, void *u)
{
	char **b = u;
	size_t old = *b ? strlen(*b) : 0;
	*b = realloc(*b, old + s * n + 1);
	memcpy(*b + old, d, s * n);
	(*b)[old + s * n] = '\0';
	return s * n;
}

static cJSON *fake(const char *method, const char *path, const char *body)
{
	CURL *e = curl_easy_init();
	char u[256];
	snprintf(u, sizeof(u), "%s%s", url, path);
	char *b = NULL;
	curl_easy_setopt(e, CURLOPT_URL, u);
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_perform(e);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	cJSON *j = b ? cJSON_Parse(b) : NULL;
	free(b);
	return j;
}

struct counts {
	int uuid, get, set, apply, total;
};

static struct counts calls(void)
{
	struct counts c = {0};
	cJSON *st = fake("GET", "/__fake/state", NULL);
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(st, "calls"))
	{
		const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(it, "action"));
		if (!a)
			continue;
		c.total++;
		c.uuid += strcmp(a, "get_alias_u_u_i_d") == 0;
		c.get += strcmp(a, "get_item") == 0;
		c.set += strcmp(a, "set_item") == 0;
		c.apply += strcmp(a, "reconfigure") == 0;
	}
	cJSON_Delete(st);
	cJSON_Delete(fake("POST", "/__fake/reset", "{}"));
	return c;
}

struct done {
	bool called;
	int rc;
};

static void done_cb(void *data, int rc, const char *msg)
{
	(void)msg;
	struct done *d = data;
	d->called = true;
	d->rc = rc;
}

static void list_cb(void *data, int rc, const char *const *h, size_t n, const char *msg)
{
	(void)h;
	(void)n;
	(void)msg;
	done_cb(data, rc, NULL);
}

static void run(struct fw *f, struct done *d)
{
	while (!d->called) {
		struct pollfd fds[FW_POLL_FDS];
		uint64_t dl;
		size_t n = fw_poll(f, fds, FW_POLL_FDS, &dl);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		int wait = dl == UINT64_MAX ? 1000 : dl <= now ? 0 : (int)(dl - now);
		poll(fds, n, wait);
		fw_step(f);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n, struct counts c)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += t[i];
	printf("%-34s %4d  %7.2f ms mean  %7.2f p50  %7.2f max   calls/op %.2f "
	       "(uuid %.2f, get_item %.2f, set_item %.2f, reconfigure %.2f)\n",
	       what, n, sum / n, t[n / 2], t[n - 1], (double)c.total / n, (double)c.uuid / n,
	       (double)c.get / n, (double)c.set / n, (double)c.apply / n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20;
	if (n < 1 || n > 1000)
		n = 20;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (start_fake() < 0) {
		fprintf(stderr, "bench_fw: cannot start the fake OPNsense (openssl, %s)\n", FW_PYTHON3);
		return 1;
	}
	char state[300], audit[300];
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	struct fw_opts o = {
		.kind = FW_BACKEND_OPNSENSE,
		.opnsense = {.url = url, .key = "admin-key", .secret = "admin-secret",
			     .alias = "llm_approved_domains", .ca_file = ca},
		.state_dir = state,
		.audit_path = audit,
	};
	struct fw *f;
	char err[256];
	double t0 = now_ms();
	if (fw_new(&o, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_fw: %s\n", err);
		return 1;
	}
	struct done d = {0};
	fw_list(f, list_cb, &d);
	run(f, &d);
	double *t = calloc((size_t)n, sizeof(*t));
	struct counts c = calls();
	printf("bench_fw: OPNsense backend against the fake over HTTPS (loopback), %d approvals\n", n);
	printf("%-34s %4d  %7.2f ms        calls %d (uuid %d, get_item %d)\n", "start-up (fw_new + list)", 1,
	       now_ms() - t0, c.total, c.uuid, c.get);

	char host[64];
	for (int i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%d.example", i);
		struct done a = {0};
		double s = now_ms();
		fw_add(f, host, NULL, done_cb, &a, err, sizeof(err));
		run(f, &a);
		t[i] = now_ms() - s;
	}
	report("add (new host)", t, n, calls());

	/* a session-scoped approval of a host already allowed: no HTTP */
	for (int i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%d.example", i);
		struct fw_actor who = {.user = "b", .session = "s2", .scope = FW_SCOPE_SESSION};
		struct done a = {0};
		double s = now_ms();
		fw_add(f, host, &who, done_cb, &a, err, sizeof(err));
		run(f, &a);
		t[i] = now_ms() - s;
	}
	report("add (already allowed, cached)", t, n, calls());

	for (int i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%d.example", i);
		struct done a = {0};
		double s = now_ms();
		fw_remove(f, host, NULL, done_cb, &a, err, sizeof(err));
		run(f, &a);
		t[i] = now_ms() - s;
	}
	report("remove", t, n, calls());
	fw_free(f);

	/* after a restart the table knows the firewall's hosts from the list;
	 * an add of a host present on the firewall but not in the table (an
	 * out-of-band edit) costs a read only */
	cJSON_Delete(fake("POST", "/__fake/alias",
			  "{\"name\":\"llm_approved_domains\",\"set\":{\"content\":\"oob.example\"}}"));
	if (fw_new(&o, &f, err, sizeof(err)) == 0) {
		struct done l = {0};
		fw_list(f, list_cb, &l);
		run(f, &l);
		calls();
		cJSON_Delete(fake("POST", "/__fake/alias",
				  "{\"name\":\"llm_approved_domains\",\"set\":{\"content\":\"oob.example\\nlate.example\"}}"));
		struct done a = {0};
		double s = now_ms();
		fw_add(f, "late.example", NULL, done_cb, &a, err, sizeof(err));
		run(f, &a);
		t[0] = now_ms() - s;
		report("add (present on the firewall)", t, 1, calls());
		fw_free(f);
	}
	free(t);
	kill(fake_pid, SIGTERM);
	waitpid(fake_pid, NULL, 0);
	rm_dir();
	curl_global_cleanup();
	return 0;
}
