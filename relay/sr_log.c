/* sr_log.c — one-line log records on stderr (see sr_log.h). */
#include "sr_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum sr_log_level min_level = SR_LOG_INFO;
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
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		names[level], line);
}
