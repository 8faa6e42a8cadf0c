/* mm_cmd.c — chat command parsing (see mm_cmd.h). */
#include "mm_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Up to 40 bytes of s, control bytes as \xNN: safe to post back. */
static void quote(const char *s, size_t n, char *out, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < n && i < 40 && k + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(out + k, len - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	if (n > 40 && k + 4 < len) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/* Splits s into at most max words (malloc'ed); returns the count or -1 when
 * there are more, -ENOMEM. */
static int split(const char *s, char **w, int max)
{
	int n = 0;
	while (*s) {
		while (blank(*s))
			s++;
		if (!*s)
			break;
		const char *b = s;
		while (*s && !blank(*s))
			s++;
		if (n == max) {
			while (n > 0)
				free(w[--n]);
			return -1;
		}
		w[n] = strndup(b, (size_t)(s - b));
		if (!w[n])
			return -ENOMEM;
		n++;
	}
	return n;
}

void mm_cmd_free(struct mm_cmd *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->arg);
	memset(c, 0, sizeof(*c));
}

static int bad(struct mm_cmd *c, const char *fmt, const char *word)
{
	c->kind = MM_CMD_BAD;
	char q[168];
	quote(word ? word : "", word ? strlen(word) : 0, q, sizeof(q));
	snprintf(c->err, sizeof(c->err), fmt, q);
	return 0;
}

int mm_cmd_parse(const char *trigger, const char *message, struct mm_cmd *c)
{
	if (!c)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	if (!trigger || !*trigger || !message)
		return -EINVAL;
	const char *p = message;
	while (blank(*p))
		p++;
	size_t tl = strlen(trigger);
	if (strncasecmp(p, trigger, tl) != 0 || (p[tl] && !blank(p[tl])))
		return 0; /* MM_CMD_NONE */
	p += tl;
	while (blank(*p))
		p++;
	const char *verb = p;
	while (*p && !blank(*p))
		p++;
	size_t vl = (size_t)(p - verb);
	while (blank(*p))
		p++;
	const char *rest = p;
	char v[16] = "";
	if (vl && vl < sizeof(v))
		for (size_t i = 0; i < vl; i++)
			v[i] = (char)tolower((unsigned char)verb[i]);

	if (!vl || !strcmp(v, "help")) {
		c->kind = MM_CMD_HELP;
		return 0;
	}
	if (!strcmp(v, "start")) {
		int n = split(rest, c->argv, MM_CMD_MAX_ARGS);
		if (n == -ENOMEM)
			return -ENOMEM;
		if (n < 0)
			return bad(c, "too many words after start%s; use: start org/repo[@branch] [--worktree[=name]]", "");
		c->argc = n;
		if (n == 0)
			return bad(c, "start what?%s Use: start org/repo[@branch] [--worktree[=name]], or a project name", "");
		c->kind = MM_CMD_START;
		return 0;
	}
	if (!strcmp(v, "stop") || !strcmp(v, "status") || !strcmp(v, "list")) {
		if (*rest) {
			char what[64];
			snprintf(what, sizeof(what), "'%s' takes no arguments (got '%%s')", v);
			return bad(c, what, rest);
		}
		c->kind = !strcmp(v, "stop") ? MM_CMD_STOP : !strcmp(v, "status") ? MM_CMD_STATUS : MM_CMD_LIST;
		return 0;
	}
	if (!strcmp(v, "keys")) {
		if (!*rest)
			return bad(c, "keys needs a spec%s, e.g. '@claude keys down*3 enter' or '@claude keys ctrl-c'", "");
		c->arg = strdup(rest);
		if (!c->arg)
			return -ENOMEM;
		/* trailing blanks are not part of the spec */
		size_t n = strlen(c->arg);
		while (n && blank(c->arg[n - 1]))
			c->arg[--n] = '\0';
		c->kind = MM_CMD_KEYS;
		return 0;
	}
	if (!strcmp(v, "resize")) {
		unsigned cols = 0, rows = 0;
		char x = 0, extra = 0;
		int got = sscanf(rest, "%u%c%u %c", &cols, &x, &rows, &extra);
		if (got != 3 || (x != 'x' && x != 'X') || cols < 20 || cols > 1000 || rows < 5 || rows > 500)
			return bad(c, "resize needs COLSxROWS between 20x5 and 1000x500, e.g. '@claude resize 120x40' (got '%s')", rest);
		c->cols = cols;
		c->rows = rows;
		c->kind = MM_CMD_RESIZE;
		return 0;
	}
	if (!strcmp(v, "invite")) {
		const char *u = rest[0] == '@' ? rest + 1 : rest;
		size_t n = strcspn(u, " \t\r\n");
		if (!n || u[n + strspn(u + n, " \t\r\n")])
			return bad(c, "invite one user: '@claude invite @name'%s", "");
		for (size_t i = 0; i < n; i++)
			if (!(isalnum((unsigned char)u[i]) || u[i] == '.' || u[i] == '_' || u[i] == '-'))
				return bad(c, "'%s' is not a user name", u);
		c->arg = strndup(u, n);
		if (!c->arg)
			return -ENOMEM;
		c->kind = MM_CMD_INVITE;
		return 0;
	}
	char q[168];
	quote(verb, vl, q, sizeof(q));
	c->kind = MM_CMD_BAD;
	snprintf(c->err, sizeof(c->err), "unknown command '%s'. Try '%s help'.", q, trigger);
	return 0;
}

char *mm_cmd_help(const char *trigger)
{
	const char *t = trigger;
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	if (!f)
		return NULL;
	fprintf(f,
		"**smrelay** drives terminal sessions from this channel.\n\n"
		"| command | what it does |\n|---|---|\n"
		"| `%s start org/repo[@branch]` | start a session on a repository (replies in a thread) |\n"
		"| `%s start org/repo --worktree[=name]` | the same in a separate worktree (for parallel sessions) |\n"
		"| `%s start <project>` | start a configured project |\n"
		"| `%s list` | sessions started from this channel |\n"
		"| `%s status` | in a session thread: its state |\n"
		"| `%s keys <spec>` | in a session thread: send keys, e.g. `down*3 enter`, `esc`, `ctrl-c`, `tab`, `pgup` |\n"
		"| `%s resize <cols>x<rows>` | in a session thread: resize the terminal |\n"
		"| `%s invite @user` | in a session thread (owner): let another user type |\n"
		"| `%s stop` | in a session thread: stop the session |\n\n"
		"Any other message in a session thread is typed into the session, followed by Enter.",
		t, t, t, t, t, t, t, t, t);
	fclose(f);
	return out;
}
