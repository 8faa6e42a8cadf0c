/* test_log.c — the daemon's log lines: one JSON object per line (or text),
 * levels filtered, control bytes unable to forge a second line. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sr_log.h"

/* Runs fn with stderr going to a temp file; returns what was written. */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/smrelay-log-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *f = fdopen(fd, "r");
	rewind(f);
	char *buf = calloc(1, 8192);
	size_t n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return buf;
}

static void emit(void)
{
	sr_log(SR_LOG_DEBUG, "not shown at info");
	sr_log(SR_LOG_WARN, "host %s: lost", "vm1\n{\"level\":\"error\",\"msg\":\"forged\"}");
}

Test(log, json_lines)
{
	sr_log_set_level(SR_LOG_INFO);
	sr_log_set_json(true);
	char *out = capture(emit);
	/* exactly one line: the newline in the value cannot start another */
	cr_assert_not_null(strchr(out, '\n'));
	cr_assert_eq(strchr(out, '\n')[1], '\0', "more than one line:\n%s", out);
	cJSON *o = cJSON_Parse(out);
	cr_assert_not_null(o, "%s", out);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring, "warn");
	cr_assert_not_null(strstr(cJSON_GetObjectItem(o, "msg")->valuestring, "host vm1"));
	const char *t = cJSON_GetObjectItem(o, "time")->valuestring;
	cr_assert_eq(strlen(t), 24, "%s", t); /* 2026-11-23T14:05:09.123Z */
	cr_assert_eq(t[23], 'Z');
	cJSON_Delete(o);
	free(out);
}

Test(log, text_lines)
{
	sr_log_set_level(SR_LOG_INFO);
	sr_log_set_json(false);
	char *out = capture(emit);
	cr_assert_not_null(strstr(out, " warn  host vm1\\x0a{"), "%s", out);
	cr_assert_eq(strchr(out, '\n')[1], '\0', "more than one line:\n%s", out);
	free(out);
	sr_log_set_json(true);
}
