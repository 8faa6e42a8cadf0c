/*
 * sr_webchat.h — the built-in web chat: a chat server inside the daemon
 * that the bot (chat/mm_bot) talks to exactly as it talks to Mattermost,
 * and a page served on the daemon's HTTP listener that shows it. It needs
 * no Mattermost: `smrelay demo` uses it as its chat surface.
 *
 * The chat server: one channel ("town") holding posts and their threads
 * (id, author, channel, root, message, props with attachments and buttons,
 * create/update/edit times, an edit count). The bot's io->rest calls are
 * answered in process, with Mattermost's semantics (reference:
 * ../shared/reference/mattermost.md §2, §4):
 *   POST /api/v4/posts                    201 + the post (new 26-char id)
 *   PUT  /api/v4/posts/{id}/patch         200; message and/or props, each
 *                                         replaced when present
 *   GET  /api/v4/users/{id}               200 {id, username}
 *   GET  /api/v4/channels/{id}/posts?since=  200 PostList, update_at > since
 * anything else 404. Answers always come through the callback from a
 * deferred call on the loop, never from inside the call that asked (as
 * mm_conn does); a queued request with the same coalesce key is replaced
 * (the older callback gets -ECANCELED). Every post the store creates or
 * edits is sent to the bot as the WebSocket event Mattermost would send
 * ("posted" with data.post as a JSON string and sender_name, or
 * "post_edited"), also deferred. Button integrations (url, context) stay in
 * the store: no answer to the bot or the page ever contains them.
 *
 * The page's user is one person (opts.user, "you" by default) who must be
 * in SM_ALLOWED_USERS for the bot to take commands from them. Their posts
 * become "posted" events; their button clicks become the
 * PostActionIntegrationRequest Mattermost would send, carrying the
 * action's stored context, handed to mm_bot_on_action; its reply is
 * applied as Mattermost applies it (update replaces the message and, when
 * given, the props; ephemeral_text becomes an ephemeral post for the
 * clicker in the thread, pushed to the page, not stored).
 *
 * HTTP routes (on the caller's sr_http):
 *   GET  /            the page            GET /app.js, /app.css  its assets
 *   GET  /api/posts?since=MS   posts changed after MS (JSON)
 *   POST /api/post    {message, root_id?}        → 201 + the post
 *   POST /api/click   {post_id, action_id}       → 200 {status, ephemeral?}
 *   GET  /api/sessions  the operator's view: sessions (id, project, host,
 *                     state, owner, thread, pending approvals) and, with
 *                     SM_AUDIT_LOG, the audit log's last entries
 *   WebSocket /ws     pushes {"event":"posted"|"post_edited"|
 *                     "ephemeral_message","post":{...}} and
 *                     {"event":"sessions"} (the operator view changed)
 *
 * With opts.chat (the daemon talks to Mattermost) the page is only the
 * operator's view: GET /, the assets, /api/sessions (pending approvals
 * from sr_chat), /api/posts answering {"mode":"operator"} with no posts,
 * and /ws for "sessions" events; no POST routes and no bot.
 *
 * Security: when the listener is not on loopback, or a token is given,
 * every route but the static assets needs the token: `Authorization:
 * Bearer <token>`, or the cookie that `GET /?token=<token>` sets
 * (HttpOnly, SameSite=Strict) before redirecting to `/`. Without a token
 * on a non-loopback address a random one is made (sr_webchat_token tells
 * it, to print). On loopback without a token, the Host header must name a
 * loopback address (no DNS rebinding). POST routes need Content-Type
 * application/json (a form cannot send it cross-site without a preflight,
 * which is never granted) and, when the browser sends Origin, an Origin
 * equal to http://<Host>; the WebSocket upgrade checks Origin the same way.
 * The page renders every text with textContent, never as HTML.
 *
 * Ownership: the caller owns the relay, the firewall and the HTTP listener,
 * which must outlive the web chat, and frees the web chat before the
 * listener. After sr_webchat_free its HTTP routes answer 503 and open
 * WebSockets stay until the listener closes them (sr_http cannot remove a
 * WebSocket route): free the listener next, before the loop runs again,
 * as `smrelay demo` does. Calls of the bot still queued at free are
 * answered -ECANCELED so the bot releases what it holds for them.
 * Errors: 0 or a negative errno-style code with a message in err.
 */
#ifndef SR_WEBCHAT_H
#define SR_WEBCHAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "sr_chat.h"
#include "sr_config.h"
#include "sr_fw.h"
#include "sr_http.h"
#include "sr_loop.h"
#include "sr_relay.h"

#define SR_WEBCHAT_MAX_POSTS 5000 /* the oldest posts go beyond this */

struct sr_webchat;

struct sr_webchat_opts {
	struct sr_loop *loop;
	const struct sr_config *cfg; /* trigger, allowed users, approvers, TTL,
	                              * listen address, audit log */
	struct sr_relay *relay;
	struct sr_fw *fw;
	struct sr_http *http;
	const char *user;  /* the page's user name; NULL → "you" */
	const char *token; /* NULL: none on loopback, a random one elsewhere */
	struct sr_chat *chat; /* set: Mattermost is the chat, and the page is
	                       * only the operator's view (sessions, pending
	                       * approvals from it, audit); no bot, no posts */
};

int sr_webchat_new(const struct sr_webchat_opts *o, struct sr_webchat **out, char *err,
		   size_t errlen);
void sr_webchat_free(struct sr_webchat *w);

/* The token the page needs, or NULL when none is required. */
const char *sr_webchat_token(const struct sr_webchat *w);

/* The operator decides a pending request (smrelay approve|deny), as
 * sr_chat_decide. */
int sr_webchat_decide(struct sr_webchat *w, const char *request, int approve, const char *user,
		      char *msg, size_t len);

/* Pending requests as [{"request","host","session"}] (caller deletes). */
cJSON *sr_webchat_pending_json(const struct sr_webchat *w);

/* The bot's REST, as the bot calls it (for tests of the store's
 * semantics): the answer comes later from the loop. Returns a handle > 0
 * or a negative code. */
typedef void (*sr_webchat_rest_cb)(void *data, int rc, long status, const cJSON *resp,
				   const char *msg);
long sr_webchat_rest(struct sr_webchat *w, const char *method, const char *path,
		     const cJSON *body, const char *coalesce_key, sr_webchat_rest_cb cb, void *data);

#endif
