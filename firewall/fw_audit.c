/* fw_audit.c — JSON Lines audit log (fw_audit.h). Lines are built with
 * cJSON, written with one write(2) each on an O_APPEND descriptor and
 * fsync'ed before returning. */
#include "fw_audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fw_audit {
	int fd;
	char *path;
};

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, int e)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a, strerror(e));
}

int fw_audit_open(const char *path, struct fw_audit **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !path[0]) {
		if (err && errlen)
			snprintf(err, errlen, "audit: no path");
		return -EINVAL;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, "audit: cannot open %s: %s", path, e);
		return -e;
	}
	/* A crash may have left a torn last line: start ours on a new line so
	 * the next record is readable (the torn one stays as evidence). */
	struct stat sb;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		char last = '\n';
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, sb.st_size - 1) != 1)
				last = '\n';
			close(rfd);
		}
		if (last != '\n' && write(fd, "\n", 1) != 1) {
			int e = errno;
			close(fd);
			set_err(err, errlen, "audit: cannot write %s: %s", path, e);
			return -e;
		}
	}
	struct fw_audit *a = calloc(1, sizeof(*a));
	if (!a || !(a->path = strdup(path))) {
		free(a);
		close(fd);
		return -ENOMEM;
	}
	a->fd = fd;
	*out = a;
	return 0;
}

void fw_audit_close(struct fw_audit *a)
{
	if (!a)
		return;
	close(a->fd);
	free(a->path);
	free(a);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* H. Hinnant's algorithm: days since 1970-01-01 (timegm is not POSIX). */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void fw_audit_time(int64_t time_ms, char *buf, size_t len)
{
	time_t s = (time_t)(time_ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(time_ms % 1000));
}

int fw_audit_parse_time(const char *s, int64_t *time_ms)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	const char *p = s + n;
	int ms = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -EINVAL;
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	*time_ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
	return 0;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

int fw_audit_append(struct fw_audit *a, const struct fw_audit_rec *r, char *err, size_t errlen)
{
	if (!a || !r || !r->action)
		return -EINVAL;
	int64_t t = r->time_ms;
	if (t == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	char tbuf[40];
	fw_audit_time(t, tbuf, sizeof(tbuf));
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	add_str(o, "time", tbuf);
	add_str(o, "action", r->action);
	add_str(o, "op", r->op);
	add_str(o, "host", r->host);
	add_str(o, "user", r->user);
	add_str(o, "session", r->session);
	add_str(o, "scope", r->scope);
	add_str(o, "backend", r->backend);
	add_str(o, "result", r->result);
	add_str(o, "message", r->message);
	/* Unformatted cJSON escapes control characters, so a message can
	 * never break the one-record-per-line shape. */
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		return -ENOMEM;
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: one write, one record */
	ssize_t w = write(a->fd, line, n + 1);
	int e = errno;
	free(line);
	if (w != (ssize_t)(n + 1)) {
		if (w >= 0)
			e = EIO;
		set_err(err, errlen, "audit: cannot append to %s: %s", a->path, e);
		return -e;
	}
	if (fsync(a->fd) < 0) {
		e = errno;
		set_err(err, errlen, "audit: fsync %s: %s", a->path, e);
		return -e;
	}
	return 0;
}

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 0 and the record, or -EINVAL when the line is not one of ours. */
static int parse_line(const char *line, cJSON **json, struct fw_audit_rec *r)
{
	cJSON *o = cJSON_Parse(line);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->action = get_str(o, "action");
	if (!r->action || fw_audit_parse_time(get_str(o, "time"), &r->time_ms) < 0) {
		cJSON_Delete(o);
		return -EINVAL;
	}
	r->op = get_str(o, "op");
	r->host = get_str(o, "host");
	r->user = get_str(o, "user");
	r->session = get_str(o, "session");
	r->scope = get_str(o, "scope");
	r->backend = get_str(o, "backend");
	r->result = get_str(o, "result");
	r->message = get_str(o, "message");
	*json = o;
	return 0;
}

int fw_audit_read(const char *path, int64_t since_unix, fw_audit_cb cb, void *data,
		  struct fw_audit_stats *stats, char *err, size_t errlen)
{
	struct fw_audit_stats st = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		set_err(err, errlen, "audit: cannot open %s: %s", path, e);
		return -e;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		int complete = line[n - 1] == '\n';
		if (complete)
			line[--n] = '\0';
		if (n == 0)
			continue; /* the newline fw_audit_open adds after a torn line */
		cJSON *o = NULL;
		struct fw_audit_rec r;
		if (parse_line(line, &o, &r) < 0) {
			if (complete)
				st.skipped++;
			else
				st.torn_tail = true;
			continue;
		}
		if (r.time_ms >= since_unix * 1000) {
			st.records++;
			ret = cb(data, &r);
		}
		cJSON_Delete(o);
		if (ret)
			break;
	}
	int e = ferror(f) ? errno : 0;
	free(line);
	fclose(f);
	if (stats)
		*stats = st;
	if (e && !ret) {
		set_err(err, errlen, "audit: reading %s: %s", path, e);
		return -e;
	}
	return ret;
}
