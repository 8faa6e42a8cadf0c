/*
 * sr_log.h — the daemon's log: one line per event on stderr (journald and
 * container runtimes collect it): a JSON object
 * {"time":"2026-11-23T14:05:09.123Z","level":"warn","msg":"host vm1: ..."}
 * (SM_LOG_FORMAT=json, the default), or the same as plain text
 * "2026-11-23T14:05:09.123Z warn  host vm1: ..." (SM_LOG_FORMAT=text).
 *
 * Never pass secrets (keys, tokens, env values) to it: messages are built
 * by the callers from names and codes only. Control bytes in a message
 * are written escaped (\xNN), so a hostile name cannot forge log lines.
 *
 * The level comes from SM_LOG_LEVEL (debug, info, warn, error; default
 * info) via sr_log_set_level. Tests may install a sink to capture lines.
 * Not thread-safe (the daemon has one thread).
 */
#ifndef SR_LOG_H
#define SR_LOG_H

#include <stdbool.h>

enum sr_log_level {
	SR_LOG_DEBUG,
	SR_LOG_INFO,
	SR_LOG_WARN,
	SR_LOG_ERROR,
};

void sr_log(enum sr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sr_log_set_level(enum sr_log_level level);

/* JSON lines (true, the default) or text. */
void sr_log_set_json(bool json);

/* Parses "debug" | "info" | "warn" | "error"; -EINVAL otherwise. */
int sr_log_parse_level(const char *s, enum sr_log_level *out);

/* Receives each formatted line (without timestamp or newline) instead of
 * stderr; NULL restores stderr. */
typedef void (*sr_log_sink)(void *data, enum sr_log_level level, const char *line);
void sr_log_set_sink(sr_log_sink sink, void *data);

#endif
