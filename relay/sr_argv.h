/*
 * sr_argv.h — a growable argv array for remote commands: builders (holder,
 * container, repository) push words, then sr_argv_quote turns the array into
 * the one command line an SSH exec channel runs (through sr_quote_argv,
 * the only quoting function).
 *
 * Layout: v[0..n-1] are malloc'ed copies, v[n] is NULL whenever v is set,
 * so v can be passed where a NULL-terminated argv is expected.
 *
 * Ownership: the array owns its strings; sr_argv_free releases them and
 * leaves {NULL, 0, 0} (freeing twice is harmless). A zeroed struct is an
 * empty array.
 * Errors: 0, -EINVAL (NULL argument), -ENOMEM. After a failed push the
 * array is unchanged.
 */
#ifndef SR_ARGV_H
#define SR_ARGV_H

#include <stddef.h>

struct sr_argv {
	char **v; /* n strings, then NULL */
	size_t n;
	size_t cap; /* allocated slots, including the NULL */
};

void sr_argv_free(struct sr_argv *a);

/* Appends a copy of word. */
int sr_argv_push(struct sr_argv *a, const char *word);

/* Appends copies of n words (all or nothing). */
int sr_argv_push_n(struct sr_argv *a, const char *const *words, size_t n);

/* Appends copies of a NULL-terminated list (all or nothing). */
int sr_argv_push_list(struct sr_argv *a, const char *const *words);

/* Appends ONE word made by printf-style formatting:
 * sr_argv_pushf(a, "--name=smrelay-%s", id). */
int sr_argv_pushf(struct sr_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The command line for an exec channel: sr_quote_argv of the words.
 * *out is malloc'ed. Errors: -EINVAL (empty array; message in err), -ENOMEM. */
int sr_argv_quote(const struct sr_argv *a, char **out, char *err, size_t errlen);

#endif
