/*
 * sr_ctl.h — the daemon's control socket: a unix socket (mode 0600, or
 * 0660 with SM_CONTROL_GROUP) through which `smrelay start|list|screen|
 * send|keys|resize|stop|attach` operate the relay (protocol in
 * sr_ctl_proto.h), and `smrelay allow|revoke|allowed|approve|deny|audit`
 * reach the firewall, the chat's pending requests and the audit log —
 * the same validation and audit path as a click, with the local user's
 * name.
 *
 * Peers are checked with SO_PEERCRED: the daemon's own user, root, or a
 * member of the configured group; anyone else is answered "permission
 * denied" and disconnected. The peer's user name is the owner of sessions
 * it starts.
 *
 * Attach and the size policy: an interactive (not read-only) attach
 * resizes the session to the attaching terminal, and later resize frames
 * follow that terminal (the most recent attacher wins, as tmux's
 * window-size latest); when the last interactive client detaches, the size
 * the session had before is restored, so the chat's view comes back.
 * Read-only clients never resize; they see the session at its size.
 *
 * Ownership: sr_ctl_new binds and listens on the loop; sr_ctl_free closes
 * every client and removes the socket file. The relay must outlive it.
 * Errors: 0 or a negative errno-style code with a message in err.
 */
#ifndef SR_CTL_H
#define SR_CTL_H

#include <stddef.h>
#include <sys/types.h>

#include "sr_loop.h"
#include "sr_chat.h"
#include "sr_fw.h"
#include "sr_relay.h"

struct sr_ctl;

struct sr_ctl_opts {
	struct sr_loop *loop;
	struct sr_relay *relay;
	const char *path;  /* socket path */
	const char *group; /* NULL, or a group whose members may connect */
	struct sr_fw *fw;     /* allow, revoke, allowed (NULL: refused) */
	/* approve, deny and pending requests, from whichever chat surface runs
	 * (Mattermost or the demo's web chat); NULL: there are none */
	int (*decide)(void *data, const char *request, int approve, const char *user, char *msg,
		      size_t len);
	cJSON *(*pending)(void *data); /* [{"request","host","session"}], caller deletes */
	void *approvals;
	const char *audit_path; /* audit (NULL: none kept) */
};

int sr_ctl_new(const struct sr_ctl_opts *o, struct sr_ctl **out, char *err, size_t errlen);
void sr_ctl_free(struct sr_ctl *c);

/* Clients attached to a session now (interactive + read-only). */
unsigned sr_ctl_attached(const struct sr_ctl *c, const char *id);

#endif
