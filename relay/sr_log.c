/* sr_log.c — one-line log records on stderr (see sr_log.h). */
#include "sr_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum sr_log_level min_level = SR_LOG_INFO;
static bool as_json = true;
static sr_log_sink sink_fn;
static void *sink_data;

static const char *const names[] = {"debug", "info", "warn", "error"};

void sr_log_set_level(enum sr_log_level level)
{
	min_level = level;
}

int sr_log_parse_level(const char *s, enum sr_log_level *out)
{
	for (int i = 0; s && i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum sr_log_level)i;
			return 0;
		}
	return -EINVAL;
}

void sr_log_set_json(bool json)
{
	as_json = json;
}

void sr_log_set_sink(sr_log_sink sink, void *data)
{
	sink_fn = sink;
	sink_data = data;
}

void sr_log(enum sr_log_level level, const char *fmt, ...)
{
	if (level < min_level || level > SR_LOG_ERROR)
		return;
	char raw[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* escape control bytes so one record stays one line */
	char line[sizeof(raw) * 4];
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p && k + 5 < sizeof(line); p++) {
		if (*p < 0x20 || *p == 0x7f)
			k += (size_t)snprintf(line + k, sizeof(line) - k, "\\x%02x", *p);
		else
			line[k++] = (char)*p;
	}
	line[k] = '\0';
	if (sink_fn) {
		sink_fn(sink_data, level, line);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[80];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
	if (as_json) {
		/* one JSON object per line, for collectors (journald, Loki...) */
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "time", when);
		cJSON_AddStringToObject(o, "level", names[level]);
		cJSON_AddStringToObject(o, "msg", raw);
		char *t = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (t) {
			fprintf(stderr, "%s\n", t);
			free(t);
			return;
		}
	}
	fprintf(stderr, "%s %-5s %s\n", when, names[level], line);
}
