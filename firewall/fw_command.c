/* fw_command.c — the command backend: runs the configured argv templates
 * (fw_command_opts) with "{host}" replaced by the normalised host. No shell
 * is involved and the host has passed the policy ([a-z0-9.-], no leading
 * '-'), so it can neither inject words nor pass itself off as an option. */
#include "fw_backend.h"
#include "fw_proc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmd {
	const struct fw_command_opts *c; /* the core's copy */
	struct fw_proc *proc;
	enum fw_op op;
	fw_be_done_fn done;
	char host[FW_HOST_MAX + 1];
};

static int has_host(const char *const *argv)
{
	for (; argv && *argv; argv++)
		if (strstr(*argv, "{host}"))
			return 1;
	return 0;
}

static int cmd_init(struct fw_be *be, const struct fw_opts *o, char *err, size_t errlen)
{
	const struct fw_command_opts *c = &o->command;
	if (!c->add || !c->add[0] || !c->remove || !c->remove[0]) {
		snprintf(err, errlen, "command backend: the add and remove commands are required");
		return -EINVAL;
	}
	if (!has_host(c->add) || !has_host(c->remove)) {
		snprintf(err, errlen, "command backend: the add and remove commands must contain {host}");
		return -EINVAL;
	}
	struct cmd *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->c = c;
	be->priv = s;
	return 0;
}

static void cmd_destroy(struct fw_be *be)
{
	struct cmd *s = be->priv;
	if (!s)
		return;
	fw_proc_free(s->proc);
	free(s);
	be->priv = NULL;
}

/* One word with every "{host}" replaced. */
static char *subst(const char *word, const char *host)
{
	size_t hl = strlen(host), n = strlen(word) + 1;
	for (const char *p = strstr(word, "{host}"); p; p = strstr(p + 6, "{host}"))
		n += hl;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	while (*word) {
		if (strncmp(word, "{host}", 6) == 0) {
			memcpy(o, host, hl);
			o += hl;
			word += 6;
		} else {
			*o++ = *word++;
		}
	}
	*o = '\0';
	return out;
}

static int cmd_apply(struct fw_be *be, enum fw_op op, const char *host, fw_be_done_fn done)
{
	struct cmd *s = be->priv;
	const char *const *tpl = op == FW_OP_ADD ? s->c->add
			       : op == FW_OP_REMOVE ? s->c->remove
						    : s->c->list;
	if (!tpl || !tpl[0])
		return -EOPNOTSUPP;
	size_t n = 0;
	while (tpl[n])
		n++;
	char **argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!(argv[i] = subst(tpl[i], host ? host : "")))
			rc = -ENOMEM;
	char err[300] = "";
	if (rc == 0) {
		struct fw_proc_opts po = {
			.argv = (const char *const *)argv,
			.timeout_ms = (s->c->timeout_s ? s->c->timeout_s : 60) * 1000,
		};
		rc = fw_proc_start(&po, &s->proc, err, sizeof(err));
	}
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	if (rc < 0) {
		done(be, rc, err[0] ? err : "cannot start the command", NULL, 0);
		return 0;
	}
	s->op = op;
	s->done = done;
	snprintf(s->host, sizeof(s->host), "%s", host ? host : "");
	return 0;
}

static size_t cmd_poll(struct fw_be *be, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	struct cmd *s = be->priv;
	return s->proc ? fw_proc_poll(s->proc, fds, max, deadline_ms) : 0;
}

/* The list command's output: one name per line; names that do not pass
 * the policy are skipped and counted (a list of addresses says nothing
 * about hostnames). */
static void finish_list(struct fw_be *be, struct cmd *s, const char *out)
{
	size_t cap = 16, n = 0, bad = 0;
	char **hosts = calloc(cap, sizeof(*hosts));
	char *copy = strdup(out);
	if (!hosts || !copy) {
		free(hosts);
		free(copy);
		s->done(be, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		size_t l = strlen(line);
		while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (!l || line[0] == '#')
			continue;
		char norm[FW_HOST_MAX + 1], why[128];
		if (fw_host_normalize(line, NULL, norm, sizeof(norm), why, sizeof(why)) < 0) {
			bad++;
			continue;
		}
		if (n == cap) {
			char **nh = realloc(hosts, (cap *= 2) * sizeof(*nh));
			if (!nh)
				break;
			hosts = nh;
		}
		if ((hosts[n] = strdup(norm)))
			n++;
	}
	char msg[120];
	if (bad)
		snprintf(msg, sizeof(msg), "%zu line(s) of the list output were not hostnames", bad);
	else
		snprintf(msg, sizeof(msg), "listed");
	s->done(be, 0, msg, (const char *const *)hosts, n);
	for (size_t i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
	free(copy);
}

static void cmd_step(struct fw_be *be)
{
	struct cmd *s = be->priv;
	if (!s->proc || fw_proc_step(s->proc) == 0)
		return;
	struct fw_proc *p = s->proc;
	s->proc = NULL;
	struct fw_proc_result r;
	fw_proc_result(p, &r);
	if (r.exit_status == 0 && !r.timed_out) {
		if (s->op == FW_OP_LIST)
			finish_list(be, s, r.out);
		else
			s->done(be, 0, s->op == FW_OP_ADD ? "added" : "removed", NULL, 0);
	} else {
		char d[300];
		fw_proc_describe(p, d, sizeof(d));
		s->done(be, r.timed_out ? -ETIMEDOUT : -EIO, d, NULL, 0);
	}
	fw_proc_free(p);
}

const struct fw_backend_ops fw_backend_command = {
	.name = "command",
	.init = cmd_init,
	.destroy = cmd_destroy,
	.apply = cmd_apply,
	.poll = cmd_poll,
	.step = cmd_step,
};
