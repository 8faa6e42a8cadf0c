/*
 * sr_fw.h — the firewall (firewall/fw.h) as the daemon uses it: built from
 * the SM_FIREWALL* settings, driven on the loop (sr_pollsync), and told when
 * sessions end so their session-scoped approvals go away.
 *
 * Ownership: sr_fw_new copies what it needs from the config; sr_fw_free
 * frees the firewall (pending callbacks are not called).
 * Errors: 0 or a negative errno-style code with a message in err.
 */
#ifndef SR_FW_H
#define SR_FW_H

#include <stddef.h>

#include "fw.h"
#include "sr_config.h"
#include "sr_loop.h"
#include "sr_relay.h"

struct sr_fw;

int sr_fw_new(struct sr_loop *loop, const struct sr_config *cfg, struct sr_fw **out, char *err,
	      size_t errlen);
void sr_fw_free(struct sr_fw *f);

/* The firewall itself, for fw_* calls; call sr_fw_kick after queuing. */
struct fw *sr_fw_get(struct sr_fw *f);
void sr_fw_kick(struct sr_fw *f);

/* Normalises and checks host: <0 refused (why), 1 already allowed, 0 not yet. */
int sr_fw_check(struct sr_fw *f, const char *host, char *norm, size_t normlen, char *why,
		size_t whylen);

/* An approval (session scope unless SM_APPROVAL_SCOPE=permanent). */
int sr_fw_approve(struct sr_fw *f, const char *session, const char *host, const char *user,
		  fw_done_cb done, void *data);
void sr_fw_deny(struct sr_fw *f, const char *session, const char *host, const char *user,
		const char *reason);
void sr_fw_session_ended(struct sr_fw *f, const char *session);

/* 1 while the backend answers (a list every minute), else 0 with the
 * reason in *why (valid until the next probe). Readiness. */
int sr_fw_ready(const struct sr_fw *f, const char **why);

/* Listens to the relay: when a session ends, its session-scoped approvals
 * go (sr_fw_session_ended). The relay must outlive f. */
int sr_fw_follow(struct sr_fw *f, struct sr_relay *relay);

#endif
