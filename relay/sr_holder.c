/* sr_holder.c — tmux holder argv builders (see sr_holder.h). */
#include "sr_holder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SR_HOLDER_ID_MAX 64

void sr_holder_argv_free(struct sr_argv *a)
{
	if (!a)
		return;
	if (a->v) {
		for (size_t i = 0; i < a->n; i++)
			free(a->v[i]);
		free(a->v);
	}
	a->v = NULL;
	a->n = 0;
}

int sr_holder_id_valid(const char *id)
{
	if (!id)
		return 0;
	size_t n = 0;
	for (; id[n]; n++) {
		char c = id[n];
		if (n >= SR_HOLDER_ID_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n > 0 && id[0] != '-';
}

/* Builds out from words (count n); copies every string. */
static int build(const char *const *words, size_t n, struct sr_argv *out)
{
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(words[i]);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
	}
	out->v = v;
	out->n = n;
	return 0;
}

static int prelude(const char *id, struct sr_argv *out, char *sock, size_t socklen)
{
	if (!out)
		return -EINVAL;
	out->v = NULL;
	out->n = 0;
	if (!sr_holder_id_valid(id))
		return -EINVAL;
	snprintf(sock, socklen, "smrelay-%s", id);
	return 0;
}

int sr_holder_start_argv(const char *session_id, unsigned cols, unsigned rows,
			 const char *const *program, struct sr_argv *out)
{
	char sock[16 + SR_HOLDER_ID_MAX];
	int rc = prelude(session_id, out, sock, sizeof(sock));
	if (rc)
		return rc;
	if (!program || !program[0] || cols == 0 || rows == 0)
		return -EINVAL;
	size_t np = 0;
	while (program[np])
		np++;
	char cs[16], rs[16];
	snprintf(cs, sizeof(cs), "%u", cols);
	snprintf(rs, sizeof(rs), "%u", rows);
	static const char *const tail[] = {
		";", "set-option", "-g", "status", "off",
		";", "set-option", "-g", "escape-time", "0",
		";", "set-option", "-ga", "terminal-overrides", ",*:smcup@:rmcup@",
	};
	const char *const head[] = {
		"tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "main",
		"-x", cs, "-y", rs, "--",
	};
	size_t nh = sizeof(head) / sizeof(head[0]);
	size_t nt = sizeof(tail) / sizeof(tail[0]);
	const char **w = calloc(nh + np + nt, sizeof(*w));
	if (!w)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < nh; i++)
		w[k++] = head[i];
	for (size_t i = 0; i < np; i++)
		w[k++] = program[i];
	for (size_t i = 0; i < nt; i++)
		w[k++] = tail[i];
	rc = build(w, k, out);
	free(w);
	return rc;
}

static int simple(const char *id, const char *const *rest, size_t nrest, struct sr_argv *out)
{
	char sock[16 + SR_HOLDER_ID_MAX];
	int rc = prelude(id, out, sock, sizeof(sock));
	if (rc)
		return rc;
	const char *w[8] = {"tmux", "-L", sock};
	size_t k = 3;
	for (size_t i = 0; i < nrest; i++)
		w[k++] = rest[i];
	return build(w, k, out);
}

int sr_holder_attach_argv(const char *session_id, struct sr_argv *out)
{
	static const char *const r[] = {"attach-session", "-t", "main"};
	return simple(session_id, r, 3, out);
}

int sr_holder_alive_argv(const char *session_id, struct sr_argv *out)
{
	static const char *const r[] = {"has-session", "-t", "main"};
	return simple(session_id, r, 3, out);
}

int sr_holder_stop_argv(const char *session_id, struct sr_argv *out)
{
	static const char *const r[] = {"kill-server"};
	return simple(session_id, r, 1, out);
}
