/* sr_show.c — safe values in messages (see sr_show.h). */
#include "sr_show.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sr_show(char buf[SR_SHOW_CAP], const char *s)
{
	size_t o = 0, i = 0;
	for (; s[i] && i < SR_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, SR_SHOW_CAP - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	if (s[i])
		strcat(buf + o, "...");
	return buf;
}

int sr_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
