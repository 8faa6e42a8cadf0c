/* test_fw_audit.c — the JSON Lines audit log: records written whole, one
 * per line, 0600, read back in order; a torn last line (a crash mid-write)
 * neither breaks reading nor swallows the next record; --since filtering. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fw_audit.h"
#include "test_fw_support.h"

static char dir[256], path[320];

static void setup(void)
{
	fwt_tmpdir(dir, sizeof(dir), "audit");
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
}

static void teardown(void)
{
	fwt_rmtree(dir);
}

TestSuite(fw_audit, .init = setup, .fini = teardown);

struct seen {
	int n;
	char actions[16][16];
	char hosts[16][64];
	char messages[16][128];
	int64_t times[16];
	int stop_at;
};

static int collect(void *data, const struct fw_audit_rec *r)
{
	struct seen *s = data;
	if (s->n < 16) {
		snprintf(s->actions[s->n], sizeof(s->actions[0]), "%s", r->action);
		snprintf(s->hosts[s->n], sizeof(s->hosts[0]), "%s", r->host ? r->host : "-");
		snprintf(s->messages[s->n], sizeof(s->messages[0]), "%s", r->message ? r->message : "-");
		s->times[s->n] = r->time_ms;
	}
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static void append(struct fw_audit *a, int64_t t, const char *action, const char *host,
		   const char *msg)
{
	struct fw_audit_rec r = {.time_ms = t, .action = action, .host = host, .user = "alice",
				 .session = "s1", .scope = "session", .backend = "log",
				 .result = "ok", .message = msg};
	char err[256];
	cr_assert_eq(fw_audit_append(a, &r, err, sizeof(err)), 0, "%s", err);
}

Test(fw_audit, records_round_trip_one_per_line)
{
	struct fw_audit *a;
	char err[256];
	cr_assert_eq(fw_audit_open(path, &a, err, sizeof(err)), 0, "%s", err);
	append(a, 1767225600123, "add", "pypi.org", "queued");
	/* a message with a newline and quotes must stay on its line */
	append(a, 1767225601000, "refused", "evil.com\nbad.com", "contains a line break: \"x\"\n{");
	append(a, 0, "applied", "pypi.org", NULL);
	fw_audit_close(a);

	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);

	char *text = fwt_read_file(path);
	int lines = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	cr_assert_eq(lines, 3, "%s", text);
	/* each line is a JSON object with the documented fields */
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	cJSON *o = cJSON_Parse(line);
	cr_assert_not_null(o, "%s", line);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "time")), "2026-01-01T00:00:00.123Z");
	const char *fields[] = {"action", "host", "user", "session", "scope", "backend", "result",
				"message"};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, fields[i])), "field %s missing",
			  fields[i]);
	cJSON_Delete(o);
	free(text);

	struct seen s = {0};
	struct fw_audit_stats st;
	cr_assert_eq(fw_audit_read(path, 0, collect, &s, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(st.records, 3);
	cr_assert_eq(st.skipped, 0);
	cr_assert(!st.torn_tail);
	cr_assert_str_eq(s.actions[1], "refused");
	cr_assert_str_eq(s.hosts[1], "evil.com\nbad.com");
	cr_assert_str_eq(s.messages[1], "contains a line break: \"x\"\n{");
	cr_assert_eq(s.times[0], 1767225600123);
	cr_assert_str_eq(s.messages[2], "-", "an absent field is omitted, not \"(null)\"");
	cr_assert_gt(s.times[2], 1767225601000, "time 0 means now");
}

Test(fw_audit, torn_last_line_is_ignored_and_not_glued_to_the_next)
{
	struct fw_audit *a;
	char err[256];
	cr_assert_eq(fw_audit_open(path, &a, err, sizeof(err)), 0, "%s", err);
	append(a, 1767225600000, "add", "a.example", "one");
	fw_audit_close(a);
	/* a crash in the middle of the second record */
	int fd = open(path, O_WRONLY | O_APPEND);
	const char torn[] = "{\"time\":\"2026-01-01T00:00:01.000Z\",\"action\":\"ad";
	cr_assert_eq(write(fd, torn, sizeof(torn) - 1), (ssize_t)(sizeof(torn) - 1));
	close(fd);

	struct seen s = {0};
	struct fw_audit_stats st;
	cr_assert_eq(fw_audit_read(path, 0, collect, &s, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.n, 1);
	cr_assert(st.torn_tail);
	cr_assert_eq(st.skipped, 0);

	/* the next run appends: its record must be readable */
	cr_assert_eq(fw_audit_open(path, &a, err, sizeof(err)), 0, "%s", err);
	append(a, 1767225602000, "remove", "a.example", "two");
	fw_audit_close(a);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(fw_audit_read(path, 0, collect, &s, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.n, 2, "the record after the torn one was lost");
	cr_assert_str_eq(s.actions[1], "remove");
	cr_assert_eq(st.skipped, 1, "the torn line is now a complete bad line");
	cr_assert(!st.torn_tail);
}

Test(fw_audit, since_filters_and_callback_stops)
{
	struct fw_audit *a;
	char err[256];
	cr_assert_eq(fw_audit_open(path, &a, err, sizeof(err)), 0, "%s", err);
	append(a, 1000000000000, "add", "old.example", NULL);
	append(a, 1700000000000, "add", "mid.example", NULL);
	append(a, 1700000000999, "add", "mid2.example", NULL);
	append(a, 1800000000000, "add", "new.example", NULL);
	fw_audit_close(a);
	/* garbage in the middle is skipped, not fatal */
	int fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "not json\n[1,2]\n{\"action\":\"add\"}\n", 32), 32);
	close(fd);

	struct seen s = {0};
	struct fw_audit_stats st;
	cr_assert_eq(fw_audit_read(path, 1700000000, collect, &s, &st, err, sizeof(err)), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.hosts[0], "mid.example");
	cr_assert_str_eq(s.hosts[2], "new.example");
	cr_assert_eq(st.skipped, 3);

	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(fw_audit_read(path, 0, collect, &s, NULL, err, sizeof(err)), 7);
	cr_assert_eq(s.n, 2);

	cr_assert_eq(fw_audit_read("/nonexistent/audit", 0, collect, &s, NULL, err, sizeof(err)),
		     -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/audit"), "%s", err);
}

Test(fw_audit, time_format_and_parse)
{
	char buf[40];
	fw_audit_time(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	fw_audit_time(951782400007, buf, sizeof(buf)); /* a leap day */
	cr_assert_str_eq(buf, "2000-02-29T00:00:00.007Z");
	int64_t t;
	cr_assert_eq(fw_audit_parse_time("2000-02-29T00:00:00.007Z", &t), 0);
	cr_assert_eq(t, 951782400007);
	cr_assert_eq(fw_audit_parse_time("2026-08-21T10:01:02Z", &t), 0);
	cr_assert_eq(t, 1787306462000);
	cr_assert_eq(fw_audit_parse_time("2026-08-21T10:01:02.5+00:00", &t), 0);
	cr_assert_eq(t, 1787306462500);
	cr_assert_eq(fw_audit_parse_time("2026-08-21 10:01:02Z", &t), -EINVAL);
	cr_assert_eq(fw_audit_parse_time("2026-08-21T10:01:02+02:00", &t), -EINVAL);
	cr_assert_eq(fw_audit_parse_time("2026-13-21T10:01:02Z", &t), -EINVAL);
	for (int64_t ms = 0; ms < 4102444800000; ms += 86400000LL * 97 + 3601007) {
		fw_audit_time(ms, buf, sizeof(buf));
		cr_assert_eq(fw_audit_parse_time(buf, &t), 0, "%s", buf);
		cr_assert_eq(t, ms, "%s", buf);
	}
}
