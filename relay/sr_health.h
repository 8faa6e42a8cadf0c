/*
 * sr_health.h — /healthz, /readyz and /metrics on the daemon's HTTP
 * listener.
 *
 *   /healthz  200 while the process serves requests
 *   /readyz   200 when at least one VM host is connected, the firewall
 *             backend answers (a list every minute) and, with chat
 *             configured, the Mattermost WebSocket is up; 503 otherwise,
 *             with the reasons in the JSON body
 *   /metrics  Prometheus text: sessions by state, VM hosts up, pending
 *             approvals
 *
 * Ownership: the parts passed in must outlive the HTTP listener's routes.
 * Errors: 0 or a negative errno-style code.
 */
#ifndef SR_HEALTH_H
#define SR_HEALTH_H

#include "sr_chat.h"
#include "sr_fw.h"
#include "sr_http.h"
#include "sr_relay.h"

struct sr_health {
	struct sr_relay *relay;
	struct sr_chat *chat; /* NULL without Mattermost */
	struct sr_fw *fw;     /* NULL: not checked */
};

int sr_health_routes(struct sr_http *http, struct sr_health *h);

#endif
