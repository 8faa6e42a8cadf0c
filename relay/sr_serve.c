/* sr_serve.c — `smrelay serve`: the daemon. Loads the SM_* settings,
 * reattaches the sessions of the state file and keeps every VM connection
 * up until SIGINT or SIGTERM. Stopping the daemon leaves the sessions
 * running on their VMs; the next start reattaches them. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_cli.h"
#include "sr_config.h"
#include "sr_ctl.h"
#include "sr_ctl_proto.h"
#include "sr_chat.h"
#include "sr_fw.h"
#include "sr_health.h"
#include "sr_http.h"
#include "sr_webchat.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sr_version.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: smrelay serve\n"
		     "\n"
		     "Runs the relay daemon. Settings come from SM_* environment variables\n"
		     "(see the README's configuration reference); at least SM_VM_HOST (or\n"
		     "SM_VM_HOSTS), SM_VM_SSH_KEY or SM_VM_SSH_KEY_PATH, and SM_VM_KNOWN_HOSTS.\n"
		     "SIGINT or SIGTERM stops it; sessions keep running on their VMs and are\n"
		     "reattached by the next start.\n");
}

static int chat_decide(void *data, const char *request, int approve, const char *user, char *msg,
		       size_t len)
{
	return sr_chat_decide(data, request, approve, user, msg, len);
}

static cJSON *chat_pending(void *data)
{
	return sr_chat_pending_json(data);
}

static void on_signal(int signo, void *data)
{
	sr_log(SR_LOG_INFO, "serve: %s received, stopping (sessions keep running)",
	       signo == SIGINT ? "SIGINT" : "SIGTERM");
	sr_loop_stop(data);
}

int sr_cmd_serve(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "smrelay serve: unknown argument '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	/* A peer that closes a socket must be an error code, not a death. */
	signal(SIGPIPE, SIG_IGN);
	struct sr_config cfg;
	char err[1024];
	if (sr_config_load(&cfg, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "smrelay serve: %s\n", err);
		return 2;
	}
	sr_log_set_level(cfg.log_level);
	sr_log_set_json(cfg.log_json);
	if (cfg.nvm_hosts == 0) {
		fprintf(stderr, "smrelay serve: no VM host configured (set SM_VM_HOST)\n");
		sr_config_free(&cfg);
		return 2;
	}
	struct sr_loop *loop = NULL;
	struct sr_relay *relay = NULL;
	struct sr_ctl *ctl = NULL;
	struct sr_fw *fw = NULL;
	struct sr_http *http = NULL;
	struct sr_chat *chat = NULL;
	struct sr_webchat *ops = NULL; /* the operator's view on the HTTP listener */
	struct sr_health health = {0};
	char *sock = NULL;
	int rc = sr_loop_new(&loop);
	if (rc == 0)
		rc = sr_loop_signal(loop, SIGINT, on_signal, loop);
	if (rc == 0)
		rc = sr_loop_signal(loop, SIGTERM, on_signal, loop);
	if (rc < 0) {
		fprintf(stderr, "smrelay serve: event loop: %s\n", strerror(-rc));
	} else {
		struct sr_relay_opts o = {.loop = loop, .cfg = &cfg};
		rc = sr_relay_new(&o, &relay, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay serve: %s\n", err);
	}
	if (rc == 0) {
		rc = sr_fw_new(loop, &cfg, &fw, err, sizeof(err));
		if (rc == 0)
			rc = sr_fw_follow(fw, relay);
		if (rc < 0)
			fprintf(stderr, "smrelay serve: firewall: %s\n", err[0] ? err : strerror(-rc));
	}
	if (rc == 0) {
		rc = sr_http_new(loop, cfg.listen_addr, &http, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay serve: SM_LISTEN_ADDR=%s: %s\n", cfg.listen_addr, err);
	}
	if (rc == 0 && cfg.mm_url) {
		rc = sr_chat_new(loop, &cfg, relay, fw, http, &chat, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay serve: %s\n", err);
	}
	const char *tok = getenv("SM_WEBCHAT_TOKEN");
	bool loopback = !strncmp(cfg.listen_addr, "127.", 4) || !strncmp(cfg.listen_addr, "[::1]", 5) ||
			!strncmp(cfg.listen_addr, "localhost:", 10);
	if (rc == 0 && chat && !loopback && !(tok && *tok)) {
		/* a generated token would have to be logged to be usable, and
		 * secrets never go to the log: no operator view without one */
		sr_log(SR_LOG_INFO, "operator view off: SM_LISTEN_ADDR is not loopback; set "
				    "SM_WEBCHAT_TOKEN to enable it");
	} else if (rc == 0 && chat) {
		/* with Mattermost as the chat, the page is the operator's view:
		 * sessions, pending approvals, audit */
		struct sr_webchat_opts wo = {.loop = loop, .cfg = &cfg, .relay = relay, .fw = fw,
					     .http = http, .token = tok && *tok ? tok : NULL,
					     .chat = chat};
		rc = sr_webchat_new(&wo, &ops, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay serve: operator view: %s\n", err);
	}
	if (rc == 0) {
		health = (struct sr_health){.relay = relay, .chat = chat, .fw = fw};
		rc = sr_health_routes(http, &health);
	}
	if (rc == 0) {
		rc = cfg.control_socket ? ((sock = strdup(cfg.control_socket)) ? 0 : -ENOMEM)
					: sr_ctl_default_path(cfg.state_dir, &sock);
		struct sr_ctl_opts co = {
			.loop = loop, .relay = relay, .path = sock, .group = cfg.control_group,
			.fw = fw, .audit_path = cfg.audit_log};
		if (chat) {
			co.decide = chat_decide;
			co.pending = chat_pending;
			co.approvals = chat;
		}
		if (rc == 0)
			rc = sr_ctl_new(&co, &ctl, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay serve: %s\n", err[0] ? err : strerror(-rc));
	}
	if (rc == 0) {
		sr_log(SR_LOG_INFO, "smrelay %s serving %zu VM host(s), state in %s, control socket %s, "
		       "HTTP on %s (port %u)%s",
		       SR_VERSION, cfg.nvm_hosts, cfg.state_dir, sock, cfg.listen_addr, sr_http_port(http),
		       chat ? ", Mattermost on" : ", no chat (SM_MM_URL unset)");
		rc = sr_loop_run(loop);
		if (rc < 0)
			sr_log(SR_LOG_ERROR, "serve: event loop failed: %s", strerror(-rc));
	}
	/* hook holders before the relay; the listener after the chat */
	sr_ctl_free(ctl);
	sr_webchat_free(ops);
	sr_chat_free(chat);
	sr_http_free(http);
	sr_fw_free(fw);
	sr_relay_free(relay);
	sr_loop_free(loop);
	free(sock);
	sr_config_free(&cfg);
	return rc < 0 ? 1 : 0;
}
