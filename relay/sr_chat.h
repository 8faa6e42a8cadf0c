/*
 * sr_chat.h — Mattermost wired into the daemon: the connection (chat/
 * mm_conn, driven on the loop), the bot (chat/mm_bot) acting on the relay's
 * sessions and the firewall, the button callback route on the daemon's
 * HTTP listener (POST /mm/action), and the bot's threads and pending cards
 * kept in the state file (section "chat") across restarts.
 *
 * Ownership: the caller owns the relay, the firewall glue and the HTTP
 * listener, which must outlive the chat. sr_chat_free removes its hooks and
 * route.
 * Errors: 0 or a negative errno-style code with a message in err.
 */
#ifndef SR_CHAT_H
#define SR_CHAT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "sr_config.h"
#include "sr_fw.h"
#include "sr_http.h"
#include "sr_loop.h"
#include "sr_relay.h"

struct sr_chat;

int sr_chat_new(struct sr_loop *loop, const struct sr_config *cfg, struct sr_relay *relay,
		struct sr_fw *fw, struct sr_http *http, struct sr_chat **out, char *err,
		size_t errlen);
void sr_chat_free(struct sr_chat *c);

/* 1 while the WebSocket is up (readiness). */
int sr_chat_connected(const struct sr_chat *c);

/* The operator decides a pending request (smrelay approve|deny). */
int sr_chat_decide(struct sr_chat *c, const char *request, int approve, const char *user,
		   char *msg, size_t len);

/* Pending requests as [{"request","host","session"}] (caller deletes). */
cJSON *sr_chat_pending_json(const struct sr_chat *c);

struct sr_chat_metrics {
	unsigned long rest_sent, rest_429, rest_failed;
	size_t rest_queued;
	unsigned long approved, denied, failed, expired;
	unsigned ws_opens, ws_resumes, ws_gaps;
};

/* Counters for /metrics (zeros for NULL). */
void sr_chat_metrics(const struct sr_chat *c, struct sr_chat_metrics *out);

/* Pending approval cards (status, metrics). */
size_t sr_chat_pending(const struct sr_chat *c);

#endif
