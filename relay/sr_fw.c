/* sr_fw.c — the firewall wired to the daemon (see sr_fw.h). */
#include "sr_fw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_log.h"
#include "sr_pollsync.h"

struct sr_fw {
	struct fw *fw;
	struct sr_pollsync *ps;
	char **deny; /* NULL-terminated copy for fw_host_normalize */
	enum fw_scope scope;
	struct sr_relay *relay;
	struct sr_relay_hooks hooks;
	struct sr_loop *loop;
	struct sr_timer *probe; /* readiness: the backend answers a list */
	int probe_rc;           /* 1 before the first answer */
	char probe_msg[300];
	bool probing;
};

#define PROBE_MS 60000u

static void probed(void *data, int rc, const char *const *hosts, size_t n, const char *msg)
{
	(void)hosts;
	(void)n;
	struct sr_fw *f = data;
	f->probing = false;
	if (rc < 0 && f->probe_rc >= 0)
		sr_log(SR_LOG_WARN, "firewall: not answering: %s", msg ? msg : "");
	f->probe_rc = rc;
	snprintf(f->probe_msg, sizeof(f->probe_msg), "%s", msg ? msg : "");
}

static void probe_cb(struct sr_timer *t, void *data)
{
	struct sr_fw *f = data;
	sr_timer_rearm(t, PROBE_MS);
	if (f->probing)
		return;
	if (fw_list(f->fw, probed, f) == 0) {
		f->probing = true;
		sr_pollsync_update(f->ps);
	}
}

int sr_fw_ready(const struct sr_fw *f, const char **why)
{
	*why = f->probe_rc < 0 ? f->probe_msg : "";
	return f->probe_rc >= 0;
}

static size_t poll_fn(void *obj, struct pollfd *fds, size_t max, uint64_t *deadline)
{
	return fw_poll(obj, fds, max, deadline);
}

static void step_fn(void *obj)
{
	fw_step(obj);
}

static void fw_log_line(void *data, const char *line)
{
	(void)data;
	sr_log(SR_LOG_WARN, "firewall: %s", line);
}

int sr_fw_new(struct sr_loop *loop, const struct sr_config *c, struct sr_fw **out, char *err,
	      size_t errlen)
{
	*out = NULL;
	struct sr_fw *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	const char *scope = getenv("SM_APPROVAL_SCOPE"); /* validated by sr_config */
	f->scope = scope && !strcmp(scope, "permanent") ? FW_SCOPE_PERMANENT : FW_SCOPE_SESSION;
	f->deny = calloc(c->nfw_deny + 1, sizeof(*f->deny));
	if (!f->deny) {
		free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nfw_deny; i++)
		f->deny[i] = c->fw_deny[i]; /* borrowed: the config outlives us */
	struct fw_opts o = {
		.kind = !strcmp(c->firewall, "opnsense")   ? FW_BACKEND_OPNSENSE
			: !strcmp(c->firewall, "nftables") ? FW_BACKEND_NFTABLES
			: !strcmp(c->firewall, "command")  ? FW_BACKEND_COMMAND
							   : FW_BACKEND_LOG,
		.opnsense = {.url = c->opnsense_url, .key = c->opnsense_key,
			     .secret = c->opnsense_secret, .alias = c->opnsense_alias,
			     .ca_file = c->opnsense_ca_file, .insecure = c->opnsense_insecure},
		.nft = {.table = c->nft_table, .sandbox_iface = c->nft_iface,
			.sandbox_cidr = c->nft_cidr, .resolver = c->nft_resolver},
		.command = {.add = (const char *const *)c->fw_cmd_add,
			    .remove = (const char *const *)c->fw_cmd_remove,
			    .list = (const char *const *)c->fw_cmd_list},
		.state_dir = c->state_dir,
		.audit_path = c->audit_log,
		.deny = (const char *const *)f->deny,
		.preapproved = (const char *const *)c->fw_preapproved,
		.log = fw_log_line,
	};
	f->loop = loop;
	f->probe_rc = 1;
	int rc = fw_new(&o, &f->fw, err, errlen);
	if (rc == 0)
		rc = sr_pollsync_new(loop, poll_fn, step_fn, f->fw, &f->ps);
	if (rc == 0) /* the first probe soon after start, then every minute */
		rc = sr_loop_timer(loop, 1000, probe_cb, f, &f->probe);
	if (rc < 0) {
		sr_fw_free(f);
		return rc;
	}
	sr_log(SR_LOG_INFO, "firewall: %s backend", fw_backend_name(f->fw));
	*out = f;
	return 0;
}

void sr_fw_free(struct sr_fw *f)
{
	if (!f)
		return;
	if (f->relay)
		sr_relay_remove_hooks(f->relay, &f->hooks);
	if (f->probe)
		sr_timer_cancel(f->probe);
	sr_pollsync_free(f->ps);
	fw_free(f->fw);
	free(f->deny);
	free(f);
}

struct fw *sr_fw_get(struct sr_fw *f)
{
	return f ? f->fw : NULL;
}

void sr_fw_kick(struct sr_fw *f)
{
	if (f)
		sr_pollsync_update(f->ps);
}

int sr_fw_check(struct sr_fw *f, const char *host, char *norm, size_t normlen, char *why,
		size_t whylen)
{
	int rc = fw_host_normalize(host, (const char *const *)f->deny, norm, normlen, why, whylen);
	if (rc < 0)
		return rc;
	return fw_is_allowed(f->fw, norm) ? 1 : 0;
}

int sr_fw_approve(struct sr_fw *f, const char *session, const char *host, const char *user,
		  fw_done_cb done, void *data)
{
	struct fw_actor who = {.user = user, .session = session, .scope = f->scope};
	char err[300];
	int rc = fw_add(f->fw, host, &who, done, data, err, sizeof(err));
	if (rc < 0)
		sr_log(SR_LOG_WARN, "firewall: approval of %s refused: %s", host, err);
	sr_fw_kick(f);
	return rc;
}

void sr_fw_deny(struct sr_fw *f, const char *session, const char *host, const char *user,
		const char *reason)
{
	struct fw_actor who = {.user = user, .session = session, .scope = f->scope};
	fw_deny(f->fw, host, &who, reason);
	sr_fw_kick(f);
}

void sr_fw_session_ended(struct sr_fw *f, const char *session)
{
	if (!f)
		return;
	fw_session_ended(f->fw, session, NULL, NULL);
	sr_fw_kick(f);
}

static void on_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	(void)why;
	if (st == SR_RS_ENDED)
		sr_fw_session_ended(data, id);
}

int sr_fw_follow(struct sr_fw *f, struct sr_relay *relay)
{
	f->relay = relay;
	f->hooks = (struct sr_relay_hooks){.on_state = on_state, .data = f};
	return sr_relay_add_hooks(relay, &f->hooks);
}
