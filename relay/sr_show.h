/*
 * sr_show.h — values as they may appear in error messages, and the
 * "format a message, return -EINVAL" shorthand the validators share.
 *
 * Messages go to chat, logs and the CLI, where a raw newline or escape
 * sequence in a hostile name would forge lines: sr_show keeps printable
 * ASCII, writes other bytes as \xHH and cuts after SR_SHOW_MAX bytes.
 */
#ifndef SR_SHOW_H
#define SR_SHOW_H

#include <stddef.h>

#define SR_SHOW_MAX 48  /* bytes of a value echoed in a message */
#define SR_SHOW_CAP 200 /* SR_SHOW_MAX bytes escaped as \xHH, plus "..." */

/* s made safe to print, in buf; returns buf. */
const char *sr_show(char buf[SR_SHOW_CAP], const char *s);

/* Formats into err (may be NULL) and returns -EINVAL. */
int sr_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
