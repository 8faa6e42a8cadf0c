/*
 * sr_bot_io.h — the bot's (chat/mm_bot) link to the daemon: sessions from
 * the relay, host checks and decisions from the firewall. Both chat
 * surfaces — Mattermost (sr_chat) and the built-in web chat (sr_webchat) —
 * give the bot the same link; only REST differs (the real server, or the
 * in-process post store).
 *
 * Ownership: the link is embedded in its owner and must outlive the bot;
 * io->ctx points at it.
 */
#ifndef SR_BOT_IO_H
#define SR_BOT_IO_H

#include "mm_bot.h"
#include "sr_fw.h"
#include "sr_relay.h"

struct sr_bot_link {
	struct sr_relay *relay;
	struct sr_fw *fw;
	const char *deny_reason; /* for the audit log, e.g. "denied in chat" */
	/* the chat surface's REST */
	long (*rest)(void *rest_ctx, const char *method, const char *path, const cJSON *body,
		     int prio, const char *key, mm_bot_rest_cb cb, void *data);
	void *rest_ctx;
	/* called after a start, approval or denial (state to save, pages to
	 * refresh); may be NULL */
	void (*changed)(void *data);
	void *changed_data;
};

/* Fills every callback of io and points io->ctx at link. */
void sr_bot_io_fill(struct mm_bot_io *io, struct sr_bot_link *link);

#endif
