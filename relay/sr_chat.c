/* sr_chat.c — Mattermost wired into the daemon (see sr_chat.h). */
#include "sr_chat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_bot.h"
#include "mm_conn.h"
#include "sr_bot_io.h"
#include "sr_log.h"
#include "sr_pollsync.h"

#define SAVE_DELAY_MS 1000 /* coalesces state writes after bursts of events */

struct sr_chat {
	struct sr_loop *loop;
	const struct sr_config *cfg;
	struct sr_relay *relay;
	struct sr_fw *fw;
	struct sr_http *http;
	struct mm_conn *conn;
	struct sr_pollsync *ps;
	struct mm_bot *bot;
	struct sr_relay_hooks hooks;
	struct sr_timer *save;
	struct sr_timer *tick; /* expires pending approvals */
	struct sr_bot_link link; /* the bot's io context */
	bool up;
	bool closing; /* mm_conn_free is cancelling requests: no new ones */
};

/* ---- persistence ------------------------------------------------------------- */

static void save_cb(struct sr_timer *t, void *data)
{
	(void)t;
	struct sr_chat *c = data;
	cJSON *sec = sr_relay_state_section(c->relay, "chat");
	cJSON *now = mm_bot_save(c->bot);
	if (!sec || !now) {
		cJSON_Delete(now);
		return;
	}
	while (sec->child)
		cJSON_Delete(cJSON_DetachItemViaPointer(sec, sec->child));
	cJSON *x;
	while ((x = now->child)) /* move the items over */
		cJSON_AddItemToObject(sec, x->string, cJSON_DetachItemViaPointer(now, x));
	cJSON_Delete(now);
	sr_relay_save(c->relay);
}

static void dirty(struct sr_chat *c);

static void tick_cb(struct sr_timer *t, void *data)
{
	struct sr_chat *c = data;
	if (mm_bot_pending(c->bot)) {
		mm_bot_tick(c->bot);
		sr_pollsync_update(c->ps);
		dirty(c);
	}
	sr_timer_rearm(t, 10000);
}

static void dirty(struct sr_chat *c)
{
	if (!sr_timer_armed(c->save))
		sr_timer_rearm(c->save, SAVE_DELAY_MS);
}

/* ---- the bot's io -------------------------------------------------------------- */

static long chat_rest(void *ctx, const char *method, const char *path, const cJSON *body, int prio,
		      const char *key, mm_bot_rest_cb cb, void *data)
{
	struct sr_chat *c = ctx;
	if (c->closing)
		return -ECANCELED;
	long h = mm_rest(c->conn, method, path, body, (enum mm_prio)prio, key, cb, data);
	sr_pollsync_update(c->ps);
	dirty(c);
	return h;
}

static void link_changed(void *data)
{
	dirty(data);
}

/* ---- connection and relay events ---------------------------------------------- */

static void on_event(void *data, const char *event, const cJSON *ev, const cJSON *bc, long seq)
{
	(void)seq;
	struct sr_chat *c = data;
	mm_bot_on_event(c->bot, event, ev, bc);
}

static void on_connected(void *data, bool resumed)
{
	struct sr_chat *c = data;
	c->up = true;
	const char *me = mm_conn_user_id(c->conn);
	if (me && *me)
		mm_bot_set_self(c->bot, me);
	sr_log(SR_LOG_INFO, "chat: connected to Mattermost%s", resumed ? " (resumed)" : "");
}

static void on_gap(void *data)
{
	struct sr_chat *c = data;
	sr_log(SR_LOG_INFO, "chat: events may have been missed; fetching posts since the last one seen");
	mm_bot_on_gap(c->bot);
}

static void on_status(void *data, int up, const char *why)
{
	struct sr_chat *c = data;
	c->up = up == 1;
	if (up < 1)
		sr_log(up < 0 ? SR_LOG_ERROR : SR_LOG_WARN, "chat: %s", why ? why : "disconnected");
}

static void hook_op(void *data, const char *id, const struct vt_op *op)
{
	struct sr_chat *c = data;
	mm_bot_on_op(c->bot, id, op);
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	struct sr_chat *c = data;
	if (st == SR_RS_ENDED) {
		mm_bot_on_state(c->bot, id, 1, 0, why);
	} else if (st == SR_RS_DETACHED && why && strcmp(why, "starting")) {
		mm_bot_on_state(c->bot, id, 0, 1, why);
	} else if (st == SR_RS_RUNNING && why && !strcmp(why, "reattached")) {
		mm_bot_on_state(c->bot, id, 0, 0, why);
	}
	dirty(c);
}

static void route_action(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_chat *c = data;
	char *reply = NULL;
	resp->status = mm_bot_on_action(c->bot, req->body, req->body_len, &reply);
	resp->body = reply ? reply : strdup("{}");
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	dirty(c);
}

static size_t poll_fn(void *obj, struct pollfd *fds, size_t max, uint64_t *deadline)
{
	*deadline = UINT64_MAX;
	return mm_conn_poll(obj, fds, max, deadline);
}

static void step_fn(void *obj)
{
	mm_conn_step(obj);
}

int sr_chat_new(struct sr_loop *loop, const struct sr_config *cfg, struct sr_relay *relay,
		struct sr_fw *fw, struct sr_http *http, struct sr_chat **out, char *err,
		size_t errlen)
{
	*out = NULL;
	if (!cfg->mm_url || !fw || !http) {
		snprintf(err, errlen, "chat: needs SM_MM_URL, the firewall and the HTTP listener");
		return -EINVAL;
	}
	char cb_url[512];
	if (cfg->callback_url)
		snprintf(cb_url, sizeof(cb_url), "%s", cfg->callback_url);
	else
		snprintf(cb_url, sizeof(cb_url), "http://127.0.0.1:%u/mm/action", sr_http_port(http));
	struct sr_chat *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->cfg = cfg;
	c->relay = relay;
	c->fw = fw;
	c->http = http;
	struct mm_bot_opts bo = {
		.trigger = cfg->bot_trigger,
		.allowed_users = (const char *const *)cfg->allowed_users,
		.callback_url = cb_url,
		.approvers = (const char *const *)cfg->approvers,
		.approval_ttl_s = cfg->approval_ttl_s,
	};
	c->link = (struct sr_bot_link){.relay = relay, .fw = fw, .deny_reason = "denied in chat",
				       .rest = chat_rest, .rest_ctx = c, .changed = link_changed,
				       .changed_data = c};
	sr_bot_io_fill(&bo.io, &c->link);
	int rc = mm_bot_new(&bo, &c->bot, err, errlen);
	if (rc == 0) {
		const cJSON *saved = sr_relay_state_section(relay, "chat");
		if (saved)
			mm_bot_load(c->bot, saved);
		/* armed once now (a harmless first save), then on demand */
		rc = sr_loop_timer(loop, SAVE_DELAY_MS, save_cb, c, &c->save);
		if (rc == 0)
			rc = sr_loop_timer(loop, 10000, tick_cb, c, &c->tick);
	}
	if (rc == 0) {
		struct mm_conn_opts co = {
			.url = cfg->mm_url,
			.token = cfg->mm_token,
			.ca_file = cfg->mm_ca_file,
			.insecure = cfg->mm_insecure,
			.rate_per_sec = cfg->mm_rate,
			.burst = cfg->mm_burst,
			.on_event = on_event,
			.on_connected = on_connected,
			.on_gap = on_gap,
			.on_status = on_status,
			.data = c,
		};
		rc = mm_conn_new(&co, &c->conn, err, errlen);
	}
	if (rc == 0)
		rc = sr_pollsync_new(loop, poll_fn, step_fn, c->conn, &c->ps);
	if (rc == 0)
		rc = sr_http_route(http, "POST", "/mm/action", route_action, c);
	if (rc == 0) {
		c->hooks = (struct sr_relay_hooks){.on_op = hook_op, .on_state = hook_state, .data = c};
		rc = sr_relay_add_hooks(relay, &c->hooks);
	}
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "chat: %s", strerror(-rc));
		sr_chat_free(c);
		return rc;
	}
	if (cfg->nallowed_users == 0)
		sr_log(SR_LOG_WARN, "chat: SM_ALLOWED_USERS is empty: nobody can start sessions from chat");
	sr_log(SR_LOG_INFO, "chat: bot %s, button callbacks at %s", cfg->bot_trigger, cb_url);
	*out = c;
	return 0;
}

void sr_chat_free(struct sr_chat *c)
{
	if (!c)
		return;
	if (c->save) {
		if (sr_timer_armed(c->save))
			save_cb(c->save, c); /* write what is pending */
		sr_timer_cancel(c->save);
	}
	if (c->tick)
		sr_timer_cancel(c->tick);
	sr_relay_remove_hooks(c->relay, &c->hooks);
	/* the route stays registered: the HTTP listener is freed right after
	 * (sr_serve), with the loop no longer running */
	sr_pollsync_free(c->ps);
	c->closing = true;
	mm_conn_free(c->conn); /* pending callbacks run now, with -ECANCELED */
	mm_bot_free(c->bot);
	free(c);
}

int sr_chat_connected(const struct sr_chat *c)
{
	return c && c->up;
}

size_t sr_chat_pending(const struct sr_chat *c)
{
	return c ? mm_bot_pending(c->bot) : 0;
}

int sr_chat_decide(struct sr_chat *c, const char *request, int approve, const char *user,
		   char *msg, size_t len)
{
	int rc = mm_bot_decide(c->bot, request, approve != 0, user, msg, len);
	sr_pollsync_update(c->ps);
	dirty(c);
	return rc;
}

cJSON *sr_chat_pending_json(const struct sr_chat *c)
{
	return c ? mm_bot_pending_json(c->bot) : cJSON_CreateArray();
}

void sr_chat_metrics(const struct sr_chat *c, struct sr_chat_metrics *out)
{
	*out = (struct sr_chat_metrics){0};
	if (!c)
		return;
	struct mm_conn_stats st;
	mm_conn_stats(c->conn, &st);
	out->rest_sent = st.rest_sent;
	out->rest_429 = st.rest_429;
	out->rest_failed = st.rest_failed;
	out->rest_queued = st.rest_queued;
	out->ws_opens = st.ws_opens;
	out->ws_resumes = st.ws_resumes;
	out->ws_gaps = st.ws_gaps;
	mm_bot_counts(c->bot, &out->approved, &out->denied, &out->failed, &out->expired);
}
