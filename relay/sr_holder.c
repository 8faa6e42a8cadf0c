/* sr_holder.c — tmux holder argv builders (see sr_holder.h). */
#include "sr_holder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SR_HOLDER_ID_MAX 64

void sr_holder_argv_free(struct sr_argv *a)
{
	sr_argv_free(a);
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

static int prelude(const char *id, struct sr_argv *out, char *sock, size_t socklen)
{
	if (!out)
		return -EINVAL;
	*out = (struct sr_argv){0};
	if (!sr_holder_id_valid(id))
		return -EINVAL;
	snprintf(sock, socklen, "smrelay-%s", id);
	return 0;
}

int sr_holder_start_argv(const char *session_id, unsigned cols, unsigned rows,
			 const char *start_dir, const char *const *program, struct sr_argv *out)
{
	char sock[16 + SR_HOLDER_ID_MAX];
	int rc = prelude(session_id, out, sock, sizeof(sock));
	if (rc)
		return rc;
	if (!program || !program[0] || !program[0][0] || cols == 0 || rows == 0 ||
	    (start_dir && start_dir[0] != '/'))
		return -EINVAL;
	char cs[16], rs[16];
	snprintf(cs, sizeof(cs), "%u", cols);
	snprintf(rs, sizeof(rs), "%u", rows);
	static const char *const tail[] = {
		";", "set-option", "-g", "status", "off",
		";", "set-option", "-g", "escape-time", "0",
		";", "set-option", "-ga", "terminal-overrides", ",*:smcup@:rmcup@",
	};
	const char *const head[] = {
		"tmux", "-u", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "main",
		"-x", cs, "-y", rs,
	};
	rc = sr_argv_push_n(out, head, sizeof(head) / sizeof(head[0]));
	if (!rc && start_dir) {
		const char *cw[] = {"-c", start_dir};
		rc = sr_argv_push_n(out, cw, 2);
	}
	if (!rc)
		rc = sr_argv_push(out, "--");
	if (!rc)
		rc = sr_argv_push_list(out, program);
	if (!rc)
		rc = sr_argv_push_n(out, tail, sizeof(tail) / sizeof(tail[0]));
	if (rc)
		sr_argv_free(out);
	return rc;
}

static int simple(const char *id, const char *const *rest, size_t nrest, struct sr_argv *out)
{
	char sock[16 + SR_HOLDER_ID_MAX];
	int rc = prelude(id, out, sock, sizeof(sock));
	if (rc)
		return rc;
	const char *const head[] = {"tmux", "-u", "-L", sock};
	rc = sr_argv_push_n(out, head, 4);
	if (!rc)
		rc = sr_argv_push_n(out, rest, nrest);
	if (rc)
		sr_argv_free(out);
	return rc;
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
