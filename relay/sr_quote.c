/* sr_quote.c — POSIX shell quoting of argv arrays (see sr_quote.h). */
#include "sr_quote.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_safe_byte(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("_./:=@%+,-", c) != NULL;
}

static bool can_stay_bare(const char *arg, bool command_word)
{
	if (command_word || arg[0] == '\0' || arg[0] == '=')
		return false;
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (!is_safe_byte(*p))
			return false;
	return true;
}

/* Bytes the quoted form takes, or SIZE_MAX if that does not fit a size_t. */
static size_t quoted_len(const char *arg, bool command_word)
{
	size_t len = strlen(arg);
	if (can_stay_bare(arg, command_word))
		return len;
	size_t quotes = 0;
	for (const char *p = arg; *p; p++)
		quotes += *p == '\'';
	/* each ' grows by 3 bytes ('\''), plus the two enclosing quotes */
	if (quotes > (SIZE_MAX - 2 - len) / 3)
		return SIZE_MAX;
	return len + 3 * quotes + 2;
}

/* Writes the quoted form at dst; returns the end of what was written. */
static char *put_quoted(char *dst, const char *arg, bool command_word)
{
	if (can_stay_bare(arg, command_word)) {
		size_t len = strlen(arg);
		memcpy(dst, arg, len);
		return dst + len;
	}
	*dst++ = '\'';
	for (const char *p = arg; *p; p++) {
		if (*p == '\'') {
			memcpy(dst, "'\\''", 4);
			dst += 4;
		} else {
			*dst++ = *p;
		}
	}
	*dst++ = '\'';
	return dst;
}

static int fail(int rc, char *err, size_t errlen, const char *fmt, size_t idx)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, idx);
	return rc;
}

int sr_quote_argv(const char *const *argv, size_t argc, char **out, char *err, size_t errlen)
{
	if (!out)
		return fail(-EINVAL, err, errlen, "no output pointer (argc %zu)", argc);
	*out = NULL;
	if (!argv || argc == 0)
		return fail(-EINVAL, err, errlen, "empty command: %zu arguments", argv ? argc : 0);
	size_t total = 1; /* the NUL */
	for (size_t i = 0; i < argc; i++) {
		if (!argv[i])
			return fail(-EINVAL, err, errlen, "argument %zu is NULL", i);
		size_t q = quoted_len(argv[i], i == 0);
		if (q == SIZE_MAX || total > SIZE_MAX - q - 1)
			return fail(-ENOMEM, err, errlen, "command too long at argument %zu", i);
		total += q + (i > 0); /* separating space */
	}
	char *buf = malloc(total);
	if (!buf)
		return fail(-ENOMEM, err, errlen, "out of memory for a %zu-byte command", total);
	char *p = buf;
	for (size_t i = 0; i < argc; i++) {
		if (i > 0)
			*p++ = ' ';
		p = put_quoted(p, argv[i], i == 0);
	}
	*p = '\0';
	*out = buf;
	return 0;
}

int sr_quote_arg(const char *arg, char **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!arg)
		return -EINVAL;
	size_t q = quoted_len(arg, false);
	if (q == SIZE_MAX)
		return -ENOMEM;
	char *buf = malloc(q + 1);
	if (!buf)
		return -ENOMEM;
	*put_quoted(buf, arg, false) = '\0';
	*out = buf;
	return 0;
}
