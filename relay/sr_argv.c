/* sr_argv.c — growable argv arrays (see sr_argv.h). */
#include "sr_argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_quote.h"

void sr_argv_free(struct sr_argv *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
	a->cap = 0;
}

/* Room for `more` words plus the NULL. */
static int reserve(struct sr_argv *a, size_t more)
{
	if (a->n + more + 1 <= a->cap)
		return 0;
	size_t cap = a->cap ? a->cap : 8;
	while (cap < a->n + more + 1)
		cap *= 2;
	char **v = realloc(a->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

int sr_argv_push_n(struct sr_argv *a, const char *const *words, size_t n)
{
	if (!a || (n && !words))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!words[i])
			return -EINVAL;
	if (reserve(a, n))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		a->v[a->n + i] = strdup(words[i]);
		if (!a->v[a->n + i]) {
			for (size_t j = 0; j < i; j++)
				free(a->v[a->n + j]);
			a->v[a->n] = NULL;
			return -ENOMEM;
		}
	}
	a->n += n;
	a->v[a->n] = NULL;
	return 0;
}

int sr_argv_push(struct sr_argv *a, const char *word)
{
	return sr_argv_push_n(a, &word, 1);
}

int sr_argv_push_list(struct sr_argv *a, const char *const *words)
{
	if (!words)
		return -EINVAL;
	size_t n = 0;
	while (words[n])
		n++;
	return sr_argv_push_n(a, words, n);
}

int sr_argv_pushf(struct sr_argv *a, const char *fmt, ...)
{
	if (!a || !fmt)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -EINVAL;
	char *w = malloc((size_t)len + 1);
	if (!w)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(w, (size_t)len + 1, fmt, ap);
	va_end(ap);
	int rc = sr_argv_push(a, w);
	free(w);
	return rc;
}

int sr_argv_quote(const struct sr_argv *a, char **out, char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	if (!a || !out)
		return -EINVAL;
	return sr_quote_argv((const char *const *)a->v, a->n, out, err, errlen);
}
