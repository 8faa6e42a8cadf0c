/* fake_mm.c — see fake_mm.h. */
#include "fake_mm.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SR_FAKE_MM_DIR
#error "SR_FAKE_MM_DIR must point at tests/fake_mattermost"
#endif

#define SERVER_PY SR_FAKE_MM_DIR "/server.py"
#define START_TIMEOUT_MS 15000
#define MAX_ARGS 48

static int fail(struct fake_mm *f, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
	return code;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* In a forked child: stdin from /dev/null, stdout to out_fd, stderr kept
 * (the server only writes real problems there), nothing else inherited. */
static void child_fds(int out_fd)
{
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0)
		dup2(nul, 0);
	dup2(out_fd, 1);
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 4096)
		max = 4096;
	for (int fd = 3; fd < max; fd++)
		close(fd);
}

int fake_mm_available(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	cached = 0;
	if (access(FAKE_MM_PYTHON, X_OK) != 0 || access(SERVER_PY, R_OK) != 0)
		return cached;
	pid_t pid = fork();
	if (pid < 0)
		return cached;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execl(FAKE_MM_PYTHON, FAKE_MM_PYTHON, "-B", "-c", "import aiohttp", (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return cached;
	cached = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	return cached;
}

/* Reads "PORT <n>\n" from fd within the deadline. */
static int read_port(struct fake_mm *f, int fd, pid_t pid)
{
	char line[128];
	size_t len = 0;
	long deadline = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		long left = deadline - now_ms();
		if (left <= 0)
			return fail(f, -ETIMEDOUT, "fake server printed no PORT line within %d ms",
				    START_TIMEOUT_MS);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		ssize_t r = read(fd, line + len, sizeof(line) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int st = 0;
			int code = -1;
			if (waitpid(pid, &st, 0) == pid && WIFEXITED(st))
				code = WEXITSTATUS(st);
			f->pid = 0;
			return fail(f, -EIO, "fake server exited before listening (status %d); "
				    "see its stderr", code);
		}
		len += (size_t)r;
		line[len] = '\0';
		char *nl = strchr(line, '\n');
		if (nl) {
			unsigned port = 0;
			if (sscanf(line, "PORT %u", &port) != 1 || port == 0 || port > 65535)
				return fail(f, -EPROTO, "unexpected first line from fake server: %.60s", line);
			f->port = port;
			return 0;
		}
		if (len >= sizeof(line) - 1)
			return fail(f, -EPROTO, "overlong first line from fake server");
	}
}

static int seed_id(struct fake_mm *f, const cJSON *seed, const char *key, char *dst, size_t dstlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(seed, key);
	if (!cJSON_IsString(v) || strlen(v->valuestring) != 26 || dstlen <= 26)
		return fail(f, -EPROTO, "/_fake/seed: bad or missing %s", key);
	snprintf(dst, dstlen, "%s", v->valuestring);
	return 0;
}

static int load_seed(struct fake_mm *f)
{
	long status = 0;
	char *body = NULL;
	int rc = fake_mm_call(f, "GET", "/_fake/seed", NULL, &status, &body);
	if (rc)
		return rc;
	cJSON *seed = status == 200 ? cJSON_Parse(body) : NULL;
	free(body);
	if (!seed)
		return fail(f, -EPROTO, "/_fake/seed answered %ld with no JSON", status);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(seed, "bot_token");
	if (!cJSON_IsString(tok) || strlen(tok->valuestring) >= sizeof(f->bot_token))
		rc = fail(f, -EPROTO, "/_fake/seed: bad bot_token");
	else
		snprintf(f->bot_token, sizeof(f->bot_token), "%s", tok->valuestring);
	if (!rc)
		rc = seed_id(f, seed, "bot_id", f->bot_id, sizeof(f->bot_id));
	if (!rc)
		rc = seed_id(f, seed, "alice_id", f->alice_id, sizeof(f->alice_id));
	if (!rc)
		rc = seed_id(f, seed, "bob_id", f->bob_id, sizeof(f->bob_id));
	if (!rc)
		rc = seed_id(f, seed, "carol_id", f->carol_id, sizeof(f->carol_id));
	if (!rc)
		rc = seed_id(f, seed, "town_id", f->town_id, sizeof(f->town_id));
	if (!rc)
		rc = seed_id(f, seed, "other_id", f->other_id, sizeof(f->other_id));
	cJSON_Delete(seed);
	return rc;
}

int fake_mm_start(struct fake_mm *f, const char *extra_args)
{
	memset(f, 0, sizeof(*f));
	if (!fake_mm_available())
		return fail(f, -ENOENT, "%s with aiohttp (python3-aiohttp) is not available",
			    FAKE_MM_PYTHON);

	/* argv: fixed part, then the extra arguments split on blanks. */
	char extra[1024];
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	int tls = 0;
	argv[argc++] = FAKE_MM_PYTHON;
	argv[argc++] = "-B";
	argv[argc++] = SERVER_PY;
	argv[argc++] = "--host";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--port";
	argv[argc++] = "0";
	if (extra_args) {
		if (strlen(extra_args) >= sizeof(extra))
			return fail(f, -E2BIG, "extra_args too long");
		snprintf(extra, sizeof(extra), "%s", extra_args);
		char *save = NULL;
		for (char *t = strtok_r(extra, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
			if (argc >= MAX_ARGS)
				return fail(f, -E2BIG, "too many extra_args");
			if (!strcmp(t, "--tls-cert"))
				tls = 1;
			argv[argc++] = t;
		}
	}
	argv[argc] = NULL;

	int pfd[2];
	if (pipe(pfd) < 0)
		return fail(f, -errno, "pipe: %s", strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return fail(f, -e, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		/* Dies with the test process, even if the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		child_fds(pfd[1]);
		execv(FAKE_MM_PYTHON, argv);
		_exit(127);
	}
	close(pfd[1]);
	f->pid = pid;
	int rc = read_port(f, pfd[0], pid);
	close(pfd[0]);
	if (rc) {
		fake_mm_stop(f);
		return rc;
	}
	snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%u", tls ? "https" : "http", f->port);
	rc = load_seed(f);
	if (rc) {
		char keep[sizeof(f->err)];
		memcpy(keep, f->err, sizeof(keep));
		fake_mm_stop(f);
		memcpy(f->err, keep, sizeof(keep));
		return rc;
	}
	return 0;
}

void fake_mm_stop(struct fake_mm *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	long deadline = now_ms() + 3000;
	int reaped = 0;
	while (now_ms() < deadline) {
		pid_t r = waitpid(f->pid, NULL, WNOHANG);
		if (r == f->pid || (r < 0 && errno == ECHILD)) {
			reaped = 1;
			break;
		}
		sleep_ms(10);
	}
	if (!reaped) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	f->pid = 0;
}

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	if (b->len + add + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + add + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

int fake_mm_call_as(struct fake_mm *f, const char *token, const char *method,
		    const char *path, const char *json_body, long *status, char **body)
{
	static int curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return fail(f, -EIO, "curl_global_init failed");
		curl_ready = 1;
	}
	if (body)
		*body = NULL;
	if (status)
		*status = 0;
	if (!f->port)
		return fail(f, -ENOTCONN, "fake server not started");
	char url[1024];
	if ((size_t)snprintf(url, sizeof(url), "%s%s", f->url, path) >= sizeof(url))
		return fail(f, -E2BIG, "path too long");
	CURL *c = curl_easy_init();
	if (!c)
		return fail(f, -ENOMEM, "curl_easy_init failed");
	struct curl_slist *hdrs = NULL;
	char auth[256];
	struct buf b = {0};
	int rc = 0;
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (json_body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (json_body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = b.oom ? fail(f, -ENOMEM, "out of memory reading the response")
			   : fail(f, -EIO, "%s %s: %s", method, path, curl_easy_strerror(cc));
	} else if (status) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (rc) {
		free(b.p);
		return rc;
	}
	if (!b.p) {
		b.p = calloc(1, 1);
		if (!b.p)
			return fail(f, -ENOMEM, "out of memory");
	}
	if (body)
		*body = b.p;
	else
		free(b.p);
	return 0;
}

int fake_mm_call(struct fake_mm *f, const char *method, const char *path,
		 const char *json_body, long *status, char **body)
{
	return fake_mm_call_as(f, NULL, method, path, json_body, status, body);
}
