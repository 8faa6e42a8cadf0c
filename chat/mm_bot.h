/*
 * mm_bot.h — the Mattermost bot's logic: commands, session threads, the
 * transcript view, approval cards and their button callbacks. It performs
 * no I/O itself: REST calls go through io->rest (the paced transport,
 * mm_conn), sessions and the firewall through the other io callbacks (the
 * relay wires them), so every behaviour is testable with a recording io.
 *
 * Threads: `@claude start ...` gets a reply in a thread (rooted at the
 * command's post, or at its thread's root); the session lives there.
 * Messages in that thread from its owner, invited users or SM_ALLOWED_USERS
 * are typed into the session (text + Enter); thread commands (stop, keys,
 * resize, status, invite, help) act on it. Others get a threaded notice.
 *
 * Transcript: the live text is ONE post edited in place (PATCH with only
 * `message`, coalesced per post so a waiting edit is sent once with its
 * newest text). Committed lines turn the current live post into a history
 * post (edited to hold them) and the next live text starts a new post at
 * the bottom, so the thread reads as a clean transcript with the live
 * screen last. A final commit becomes the last live post's text.
 *
 * Approval cards: for each scanner marker the host is checked (io->check_
 * host: normalised, validated, already allowed?), duplicates are collapsed
 * while one is pending, and a card with the host, the lines around the
 * marker and Approve / Deny buttons is posted in the thread. Each card's
 * integration context carries an unguessable secret (Mattermost signs
 * nothing and hides the context from clients); a click is accepted only
 * with the right secret, from an allowed user, once. Approve → io->approve
 * (the firewall; may take minutes) → `[NETWORK_APPROVED: host]` typed into
 * the session and the card updated; Deny → `[NETWORK_DENIED: host]`.
 *
 * Ownership: the bot copies its options; strings passed to io callbacks are
 * valid during the call. mm_bot_on_action returns a malloc'ed reply body.
 * Errors: 0 or a negative errno-style code.
 */
#ifndef MM_BOT_H
#define MM_BOT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_cmd.h"
#include "vt_batch.h"

typedef void (*mm_bot_rest_cb)(void *data, int rc, long status, const cJSON *resp,
			       const char *msg);
typedef void (*mm_bot_done_cb)(void *data, int rc, const char *id, const char *msg);
typedef void (*mm_bot_fw_cb)(void *data, int rc, const char *msg);

enum { MM_BOT_PRIO_REPLY, MM_BOT_PRIO_CARD, MM_BOT_PRIO_HISTORY, MM_BOT_PRIO_LIVE };

struct mm_bot_io {
	void *ctx;
	/* A REST call; body is borrowed. Returns a handle > 0 or < 0. */
	long (*rest)(void *ctx, const char *method, const char *path, const cJSON *body, int prio,
		     const char *coalesce_key, mm_bot_rest_cb cb, void *data);
	int (*start)(void *ctx, int argc, const char *const *argv, const char *owner,
		     mm_bot_done_cb done, void *data, char *id_out, char *err, size_t errlen);
	int (*stop)(void *ctx, const char *id, mm_bot_done_cb done, void *data, char *err,
		    size_t errlen);
	int (*send_text)(void *ctx, const char *id, const char *text);
	int (*send_keys)(void *ctx, const char *id, const char *spec, char *err, size_t errlen);
	int (*resize)(void *ctx, const char *id, unsigned cols, unsigned rows);
	/* One line about the session (state, host, project, age); -ENOENT. */
	int (*describe)(void *ctx, const char *id, char *buf, size_t len);
	/* <0: refused (why); 1: already allowed; 0: needs an approval. */
	int (*check_host)(void *ctx, const char *host, char *norm, size_t normlen, char *why,
			  size_t whylen);
	int (*approve)(void *ctx, const char *session, const char *host, const char *user,
		       mm_bot_fw_cb done, void *data);
	void (*deny)(void *ctx, const char *session, const char *host, const char *user);
	int (*random)(void *ctx, void *buf, size_t n);
};

struct mm_bot_opts {
	const char *trigger;      /* NULL → "@claude" */
	const char *bot_user_id;  /* the bot's own id (its posts are ignored) */
	const char *const *allowed_users; /* names (with or without '@') or ids */
	const char *callback_url; /* where Mattermost POSTs button clicks */
	const char *const *approvers; /* SM_APPROVERS (names or ids); NULL/empty:
	                               * each session's owner decides */
	unsigned approval_ttl_s;  /* pending requests expire; 0 → 3600 */
	struct mm_bot_io io;
};

struct mm_bot;

int mm_bot_new(const struct mm_bot_opts *o, struct mm_bot **out, char *err, size_t errlen);
void mm_bot_free(struct mm_bot *b);

/* The bot's own user id, once the connection knows it (its posts are
 * then ignored). -ENOMEM. */
int mm_bot_set_self(struct mm_bot *b, const char *user_id);

/* WebSocket events (mm_conn's on_event). */
void mm_bot_on_event(struct mm_bot *b, const char *event, const cJSON *data,
		     const cJSON *broadcast);
/* Events may have been lost: refetch each known channel's posts since the
 * last one seen (duplicates are skipped). */
void mm_bot_on_gap(struct mm_bot *b);

/* The relay's hooks. */
void mm_bot_on_op(struct mm_bot *b, const char *session, const struct vt_op *op);
void mm_bot_on_state(struct mm_bot *b, const char *session, int ended, int detached,
		     const char *why);

/* A button click: body is Mattermost's PostActionIntegrationRequest. Returns
 * the HTTP status (200, 400, 403) and *reply (JSON, malloc'ed, may be NULL). */
int mm_bot_on_action(struct mm_bot *b, const char *body, size_t len, char **reply);

/* A decision from outside the chat (the operator's `smrelay approve|deny`,
 * authorised by the control socket): like a click by user, no secret
 * needed; the card is updated. -ENOENT (unknown request), -EALREADY; msg
 * says what happened. */
int mm_bot_decide(struct mm_bot *b, const char *rid, bool approve, const char *user, char *msg,
		  size_t len);

/* Pending approvals: [{"request", "host", "session"}]. Caller deletes. */
cJSON *mm_bot_pending_json(const struct mm_bot *b);

/* Expires pending requests older than the TTL (denied, card updated):
 * call every few seconds. */
void mm_bot_tick(struct mm_bot *b);

/* Decisions since start, by result (metrics). */
void mm_bot_counts(const struct mm_bot *b, unsigned long *approved, unsigned long *denied,
		   unsigned long *failed, unsigned long *expired);

/* Pending approvals, for status and the operator's view. */
size_t mm_bot_pending(const struct mm_bot *b);

/* Threads, cards and last-seen times as JSON (to persist), and back. */
cJSON *mm_bot_save(const struct mm_bot *b);
int mm_bot_load(struct mm_bot *b, const cJSON *saved);

#endif
