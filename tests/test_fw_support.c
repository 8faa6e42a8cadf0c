/* test_fw_support.c — see test_fw_support.h. */
#include "test_fw_support.h"

#include "fw_audit.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

bool fwt_in_step;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void fwt_tmpdir(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/smrelay-fw-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
}

void fwt_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[1024];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			struct stat sb;
			if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
				fwt_rmtree(p);
			else
				unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

void fwt_write_file(const char *path, const char *text, bool exec)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, exec ? 0700 : 0600);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	size_t n = strlen(text);
	cr_assert_eq(write(fd, text, n), (ssize_t)n);
	close(fd);
}

char *fwt_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* Runs argv to completion with stdout/stderr to /dev/null. */
static int run_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void fwt_fake_start(struct fwt_fake *fk)
{
	memset(fk, 0, sizeof(*fk));
	fwt_tmpdir(fk->dir, sizeof(fk->dir), "fake");
	char key[320];
	snprintf(fk->ca, sizeof(fk->ca), "%s/cert.pem", fk->dir);
	snprintf(key, sizeof(key), "%s/key.pem", fk->dir);
	char *ossl[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", fk->ca,
			"-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
			"subjectAltName=IP:127.0.0.1,DNS:localhost", NULL};
	cr_assert_eq(run_quiet(ossl), 0, "openssl req failed");

	int p[2];
	cr_assert_eq(pipe(p), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *argv[] = {FW_PYTHON3, FW_FAKE_OPNSENSE, "--cert", fk->ca, "--key", key, NULL};
	int rc = posix_spawn(&fk->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	cr_assert_eq(rc, 0, "cannot start the fake: %s", strerror(rc));
	/* "PORT <n>\n" once it listens */
	char line[64] = "";
	size_t len = 0;
	uint64_t end = now_us() + 15 * 1000000ull;
	while (!strchr(line, '\n') && now_us() < end && len + 1 < sizeof(line)) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (poll(&pf, 1, 200) <= 0)
			continue;
		ssize_t r = read(p[0], line + len, sizeof(line) - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		line[len] = '\0';
	}
	close(p[0]);
	cr_assert_eq(sscanf(line, "PORT %d", &fk->port), 1, "the fake did not start: '%s'", line);
	snprintf(fk->url, sizeof(fk->url), "https://127.0.0.1:%d", fk->port);
}

void fwt_fake_stop(struct fwt_fake *fk)
{
	if (fk->pid > 0) {
		kill(fk->pid, SIGTERM);
		waitpid(fk->pid, NULL, 0);
		fk->pid = 0;
	}
	if (fk->dir[0])
		fwt_rmtree(fk->dir);
	fk->dir[0] = '\0';
}

struct buf {
	char *d;
	size_t n;
};

static size_t collect(char *data, size_t size, size_t n, void *userp)
{
	struct buf *b = userp;
	b->d = realloc(b->d, b->n + size * n + 1);
	memcpy(b->d + b->n, data, size * n);
	b->n += size * n;
	b->d[b->n] = '\0';
	return size * n;
}

long fwt_http(const struct fwt_fake *fk, const char *method, const char *path, const char *ctype,
	      const char *body, const char *userpwd, char **resp, char **ctype_out)
{
	CURL *e = curl_easy_init();
	cr_assert_not_null(e);
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", fk->url, path);
	struct buf b = {0};
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, fk->ca);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (userpwd)
		curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
	struct curl_slist *h = NULL;
	if (ctype) {
		char hdr[200];
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
		h = curl_slist_append(h, hdr);
	}
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		if (!ctype)
			h = curl_slist_append(h, "Content-Type:"); /* none at all */
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	long code = 0;
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (ctype_out) {
		char *ct = NULL;
		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
		*ctype_out = ct ? strdup(ct) : NULL;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	if (resp)
		*resp = b.d ? b.d : strdup("");
	else
		free(b.d);
	return code;
}

void fwt_fake_config(const struct fwt_fake *fk, const char *json)
{
	char *r = NULL;
	long code = fwt_http(fk, "POST", "/__fake/config", "application/json", json, NULL, &r, NULL);
	cr_assert_eq(code, 200, "fake config %s: %ld %s", json, code, r);
	free(r);
}

cJSON *fwt_fake_state(const struct fwt_fake *fk)
{
	char *r = NULL;
	long code = fwt_http(fk, "GET", "/__fake/state", NULL, NULL, NULL, &r, NULL);
	cr_assert_eq(code, 200);
	cJSON *j = cJSON_Parse(r);
	free(r);
	cr_assert_not_null(j);
	return j;
}

const char *fwt_alias_content(const cJSON *state, const char *name)
{
	const cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(state, "aliases"))
	{
		const cJSON *n = cJSON_GetObjectItem(a, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return cJSON_GetStringValue(cJSON_GetObjectItem(a, "content"));
	}
	return NULL;
}

char *fwt_pf_table(const cJSON *state, const char *name)
{
	char *out = calloc(1, 4096);
	const cJSON *ip;
	cJSON_ArrayForEach(ip, cJSON_GetObjectItem(cJSON_GetObjectItem(state, "pf"), name))
	{
		if (out[0])
			strcat(out, ",");
		strncat(out, ip->valuestring, 4000 - strlen(out));
	}
	return out;
}

int fwt_calls(const cJSON *state, const char *action)
{
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(state, "calls"))
	{
		const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(c, "action"));
		n += a && strcmp(a, action) == 0;
	}
	return n;
}

bool fwt_run(struct fw *f, const bool *flag, int timeout_ms, struct fwt_stats *stats)
{
	uint64_t end = now_us() + (uint64_t)timeout_ms * 1000;
	while (!*flag) {
		struct pollfd fds[FW_POLL_FDS];
		uint64_t dl, t0 = now_us();
		size_t n = fw_poll(f, fds, FW_POLL_FDS, &dl);
		uint64_t t1 = now_us();
		if (stats && t1 - t0 > stats->max_call_us)
			stats->max_call_us = t1 - t0;
		cr_assert_leq(n, FW_POLL_FDS);
		if (t1 >= end)
			return false;
		uint64_t now_ms = t1 / 1000, end_ms = end / 1000;
		uint64_t until = dl < end_ms ? dl : end_ms;
		int wait = until <= now_ms ? 0 : (int)(until - now_ms);
		poll(fds, n, wait);
		fwt_in_step = true;
		t0 = now_us();
		fw_step(f);
		t1 = now_us();
		fwt_in_step = false;
		if (stats) {
			stats->steps++;
			if (t1 - t0 > stats->max_call_us)
				stats->max_call_us = t1 - t0;
		}
	}
	return true;
}

void fwt_run_for(struct fw *f, int ms)
{
	bool never = false;
	fwt_run(f, &never, ms, NULL);
}

void fwt_done_cb(void *data, int rc, const char *msg)
{
	struct fwt_done *d = data;
	d->called = true;
	d->rc = rc;
	d->outside_step = !fwt_in_step;
	snprintf(d->msg, sizeof(d->msg), "%s", msg ? msg : "(null)");
}

void fwt_list_cb(void *data, int rc, const char *const *hosts, size_t n, const char *msg)
{
	(void)msg;
	struct fwt_list *l = data;
	l->called = true;
	l->rc = rc;
	l->n = n;
	l->hosts[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(l->hosts, ",", sizeof(l->hosts) - strlen(l->hosts) - 1);
		strncat(l->hosts, hosts[i], sizeof(l->hosts) - strlen(l->hosts) - 1);
	}
}

struct count_ctx {
	const char *action, *host;
	int n;
};

static int count_cb(void *data, const struct fw_audit_rec *r)
{
	struct count_ctx *c = data;
	if (strcmp(r->action, c->action) == 0 && (!c->host || (r->host && strcmp(r->host, c->host) == 0)))
		c->n++;
	return 0;
}

int fwt_audit_count(const char *path, const char *action, const char *host)
{
	struct count_ctx c = {action, host, 0};
	char err[256];
	int rc = fw_audit_read(path, 0, count_cb, &c, NULL, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	return c.n;
}
