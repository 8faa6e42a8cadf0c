/*
 * fw_audit.h — the firewall audit log: one JSON object per line (JSON
 * Lines), appended and fsync'ed record by record, so what is in the file
 * survives a crash or power loss the moment fw_audit_append returns.
 *
 * A record (every field a string; absent ones are omitted):
 *   time     RFC 3339 UTC with milliseconds, "2026-08-21T10:01:02.123Z"
 *   action   add | remove | deny | refused | applied | failed | notice
 *            (add/remove: a request was queued; applied/failed: the
 *            backend's result for it; deny: a person said no; refused:
 *            the hostname policy said no; notice: a backend event such as
 *            "TLS verification disabled")
 *   op       for applied/failed: which operation ("add", "remove", "list")
 *   host, user, session, scope ("permanent" | "session"), backend,
 *   result   "queued", "ok", "denied", "refused", or an errno name
 *            ("EACCES") for failures
 *   message  one line of human detail
 *
 * Writers: one process appends (O_APPEND, one write(2) per record). A
 * record torn by a crash is left as it is; the next append starts on a
 * fresh line so it does not take the torn bytes with it.
 * Secrets never reach this file: callers pass none, and nothing here adds
 * any. The file is created 0600.
 *
 * Ownership: fw_audit_open returns an object the caller frees with
 * fw_audit_close. Strings in a record passed to a read callback are valid
 * during the call only.
 * Errors: 0 or a negative errno-style code, detail in err.
 */
#ifndef FW_AUDIT_H
#define FW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_audit;

struct fw_audit_rec {
	int64_t time_ms;     /* Unix time in ms; 0 on append: now */
	const char *action;  /* required */
	const char *op;
	const char *host;
	const char *user;
	const char *session;
	const char *scope;
	const char *backend;
	const char *result;
	const char *message;
};

int fw_audit_open(const char *path, struct fw_audit **out, char *err, size_t errlen);
void fw_audit_close(struct fw_audit *a);

/* Appends one record and fsyncs. -EIO/-ENOSPC... on failure (err). */
int fw_audit_append(struct fw_audit *a, const struct fw_audit_rec *r, char *err, size_t errlen);

/* Formats a Unix time in ms as RFC 3339 UTC ("...T..:..:..mmmZ"); buf of
 * at least 32 bytes. */
void fw_audit_time(int64_t time_ms, char *buf, size_t len);

/* Parses what fw_audit_time writes (also without the fraction, and with
 * a "+00:00" offset). Returns 0 or -EINVAL. */
int fw_audit_parse_time(const char *s, int64_t *time_ms);

/* Called for each record; returning non-zero stops the read (that value
 * is returned by fw_audit_read). */
typedef int (*fw_audit_cb)(void *data, const struct fw_audit_rec *r);

struct fw_audit_stats {
	size_t records;   /* passed to the callback */
	size_t skipped;   /* complete lines that were not valid records */
	bool torn_tail;   /* the last line had no newline and did not parse */
};

/* Reads path (for `smrelay audit [--since]`), calling cb for every record
 * whose time is at or after since_unix (seconds; 0: all), in file order. A last line
 * torn by a crash is ignored (stats->torn_tail); other lines that are not
 * valid records are skipped and counted, never fatal. stats may be NULL.
 * Returns 0, cb's non-zero value, or a negative code (-ENOENT...). */
int fw_audit_read(const char *path, int64_t since_unix, fw_audit_cb cb, void *data,
		  struct fw_audit_stats *stats, char *err, size_t errlen);

#endif
