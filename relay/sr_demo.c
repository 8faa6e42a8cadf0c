/* sr_demo.c — `smrelay demo`: the daemon with an embedded default that needs
 * no Mattermost, no VM and no firewall. Sessions run on this machine (the
 * `local` transport, runtime none, under the usual tmux holder), the
 * firewall only logs, and the chat is the built-in web chat (sr_webchat)
 * on SM_LISTEN_ADDR (default http://127.0.0.1:8080). The program in each
 * session is `smrelay demo-tui`, which asks for pypi.org, so a first run
 * shows the whole flow: start, live screen, approval card, approval typed
 * into the session.
 *
 * Every SM_* variable still overrides these defaults (SM_MM_URL and
 * SM_MM_TOKEN are ignored: the demo's chat is the web chat). The web chat's
 * user is SM_WEBCHAT_USER (default "you", also the default
 * SM_ALLOWED_USERS); SM_WEBCHAT_TOKEN sets its token (required, and made
 * up when unset, if the listener is not on loopback).
 *
 * Unlike `serve`, stopping the demo (SIGINT, SIGTERM) stops the sessions
 * it started, so nothing is left running; a second signal leaves at once.
 * Sessions left by a demo that was killed are stopped at the next start. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sr_cli.h"
#include "sr_config.h"
#include "sr_ctl.h"
#include "sr_ctl_proto.h"
#include "sr_fw.h"
#include "sr_health.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sr_version.h"
#include "sr_webchat.h"

#define STOP_GRACE_MS 10000 /* sessions have this long to stop at exit */

static void usage(FILE *out)
{
	fprintf(out, "usage: smrelay demo\n"
		     "\n"
		     "Runs the relay with a built-in web chat and sessions on this machine: no\n"
		     "Mattermost, VM or firewall needed. Open the address it prints and type\n"
		     "'@claude start demo'. Defaults (each SM_* variable overrides them):\n"
		     "  SM_VM_HOST=local  SM_CONTAINER_RUNTIME=none  SM_FIREWALL=log\n"
		     "  SM_LISTEN_ADDR=127.0.0.1:8080  SM_ALLOWED_USERS=<SM_WEBCHAT_USER, default you>\n"
		     "  SM_STATE_DIR=$XDG_STATE_HOME/smrelay-demo (or ~/.local/state/smrelay-demo,\n"
		     "    or /tmp/smrelay-demo-<uid>)  SM_PROJECTS={\"demo\": \"<state dir>/demo\"}\n"
		     "  SM_CLAUDE_COMMAND='<this smrelay> demo-tui'  SM_AUDIT_LOG=<state dir>/audit.jsonl\n"
		     "Off loopback the page needs a token (SM_WEBCHAT_TOKEN, or a random one that\n"
		     "is printed). SIGINT or SIGTERM stops the demo and the sessions it started.\n");
}

/* ---- the embedded defaults ------------------------------------------------------ */

#define NDEFAULTS 12

static struct {
	const char *name;
	char *value;
} defaults[NDEFAULTS];

static void set_default(const char *name, const char *value)
{
	for (size_t i = 0; i < NDEFAULTS; i++)
		if (!defaults[i].name || !strcmp(defaults[i].name, name)) {
			free(defaults[i].value);
			defaults[i].name = name;
			defaults[i].value = value ? strdup(value) : NULL;
			return;
		}
}

static void free_defaults(void)
{
	for (size_t i = 0; i < NDEFAULTS; i++) {
		free(defaults[i].value);
		defaults[i].name = NULL;
		defaults[i].value = NULL;
	}
}

/* The environment first, then the demo's defaults. */
static const char *demo_getenv(const char *name)
{
	if (!strcmp(name, "SM_MM_URL") || !strcmp(name, "SM_MM_TOKEN"))
		return NULL; /* the demo's chat is the web chat */
	const char *v = getenv(name);
	if (v && *v)
		return v;
	for (size_t i = 0; i < NDEFAULTS && defaults[i].name; i++)
		if (!strcmp(defaults[i].name, name))
			return defaults[i].value;
	return NULL;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

/* $XDG_STATE_HOME/smrelay-demo, ~/.local/state/smrelay-demo, or
 * /tmp/smrelay-demo-<uid> (the CLI looks there too: sr_ctl_client). */
void sr_demo_state_dir(char *buf, size_t len)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (x && x[0] == '/')
		snprintf(buf, len, "%s/smrelay-demo", x);
	else if (home && home[0] == '/' && strcmp(home, "/"))
		snprintf(buf, len, "%s/.local/state/smrelay-demo", home);
	else
		snprintf(buf, len, "/tmp/smrelay-demo-%u", (unsigned)getuid());
}

static int set_up_defaults(const char *user, char *err, size_t errlen)
{
	char state[PATH_MAX], buf[PATH_MAX + 64];
	const char *sd = getenv("SM_STATE_DIR");
	if (sd && *sd)
		snprintf(state, sizeof(state), "%s", sd);
	else
		sr_demo_state_dir(state, sizeof(state));
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "cannot find the smrelay binary (/proc/self/exe): %s", strerror(errno));
		return -errno;
	}
	exe[n] = '\0';
	if (strpbrk(exe, " \t") && !getenv("SM_CLAUDE_COMMAND")) {
		snprintf(err, errlen, "the smrelay binary's path has a blank in it (%.300s): set SM_CLAUDE_COMMAND", exe);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s/demo", state);
	int rc = mkdir_p(buf); /* the state dir and the demo project's scratch dir */
	if (rc < 0) {
		snprintf(err, errlen, "cannot create %.300s: %s", buf, strerror(-rc));
		return rc;
	}
	cJSON *projects = cJSON_CreateObject();
	cJSON_AddStringToObject(projects, "demo", buf);
	char *pj = cJSON_PrintUnformatted(projects);
	cJSON_Delete(projects);
	if (!pj)
		return -ENOMEM;
	const char *hosts = getenv("SM_VM_HOSTS");
	if (!hosts || !*hosts) /* SM_VM_HOSTS replaces SM_VM_HOST */
		set_default("SM_VM_HOST", "local");
	set_default("SM_CONTAINER_RUNTIME", "none");
	set_default("SM_FIREWALL", "log");
	set_default("SM_LOG_FORMAT", "text"); /* a person reads the demo's log */
	set_default("SM_LISTEN_ADDR", "127.0.0.1:8080");
	set_default("SM_STATE_DIR", state);
	set_default("SM_PROJECTS", pj);
	free(pj);
	set_default("SM_ALLOWED_USERS", user);
	snprintf(buf, sizeof(buf), "%s demo-tui", exe);
	set_default("SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "%s/audit.jsonl", state);
	set_default("SM_AUDIT_LOG", buf);
	/* forward the API key when there is one (for SM_CLAUDE_COMMAND=claude),
	 * else the locale (tmux shows '_' for UTF-8 without it); no warning
	 * about a key the demo does not need */
	const char *key = getenv("ANTHROPIC_API_KEY"), *lang = getenv("LANG");
	set_default("SM_CONTAINER_ENV", (key && *key) || !lang || !*lang ? "ANTHROPIC_API_KEY" : "LANG");
	for (size_t i = 0; i < NDEFAULTS; i++)
		if (defaults[i].name && !defaults[i].value)
			return -ENOMEM;
	return 0;
}

/* ---- stopping ---------------------------------------------------------------------- */

struct demo {
	struct sr_loop *loop;
	struct sr_relay *relay;
	bool stopping, launching;
	unsigned pending, stopped;
	struct sr_timer *grace;
};

static void stop_done(void *data, int rc, const char *id, const char *msg)
{
	struct demo *d = data;
	if (rc == 0)
		d->stopped++;
	else
		sr_log(SR_LOG_WARN, "demo: session %s did not stop cleanly: %s", id ? id : "?", msg ? msg : "");
	if (d->pending)
		d->pending--;
	if (!d->pending && !d->launching)
		sr_loop_stop(d->loop);
}

static void grace_cb(struct sr_timer *t, void *data)
{
	(void)t;
	struct demo *d = data;
	sr_log(SR_LOG_WARN, "demo: %u session(s) did not stop within %d s; leaving anyway", d->pending,
	       STOP_GRACE_MS / 1000);
	sr_loop_stop(d->loop);
}

/* Stops every session; cb is called for each (NULL: not waited for).
 * Returns how many stops were started. */
static unsigned stop_all(struct demo *d, sr_relay_done_cb cb)
{
	size_t n = sr_relay_list(d->relay, NULL, 0);
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	char **copy = calloc(n ? n : 1, sizeof(*copy));
	unsigned started = 0;
	if (ids && copy) {
		n = sr_relay_list(d->relay, ids, n);
		/* the ids belong to the relay until sessions change: copy them */
		for (size_t i = 0; i < n; i++)
			copy[i] = strdup(ids[i]);
		d->launching = true;
		for (size_t i = 0; i < n; i++) {
			char err[256];
			if (!copy[i])
				continue;
			if (cb)
				d->pending++;
			if (sr_relay_stop(d->relay, copy[i], cb, d, err, sizeof(err)) == 0) {
				started++;
			} else if (cb) {
				d->pending--;
			}
		}
		d->launching = false;
		for (size_t i = 0; i < n; i++)
			free(copy[i]);
	}
	free(ids);
	free(copy);
	return started;
}

static void on_signal(int signo, void *data)
{
	struct demo *d = data;
	if (d->stopping) {
		sr_log(SR_LOG_WARN, "demo: second signal: leaving without waiting for sessions to stop");
		sr_loop_stop(d->loop);
		return;
	}
	d->stopping = true;
	unsigned n = stop_all(d, stop_done);
	sr_log(SR_LOG_INFO, "demo: %s received, stopping %u session(s)", signo == SIGINT ? "SIGINT" : "SIGTERM", n);
	if (!d->pending)
		sr_loop_stop(d->loop);
	else if (sr_loop_timer(d->loop, STOP_GRACE_MS, grace_cb, d, &d->grace) < 0)
		sr_loop_stop(d->loop);
}

/* ---- the address to print ----------------------------------------------------------- */

static void page_url(const char *listen, unsigned port, const char *token, char *buf, size_t len)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
	snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) ? hl : sizeof(host) - 1), listen);
	/* every address: name one that works from here */
	if (!host[0] || !strcmp(host, "0.0.0.0"))
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (!strcmp(host, "[::]"))
		snprintf(host, sizeof(host), "[::1]");
	if (token)
		snprintf(buf, len, "http://%s:%u/?token=%s", host, port, token);
	else
		snprintf(buf, len, "http://%s:%u/", host, port);
}

static int webchat_decide(void *data, const char *request, int approve, const char *user,
			  char *msg, size_t len)
{
	return sr_webchat_decide(data, request, approve, user, msg, len);
}

static cJSON *webchat_pending(void *data)
{
	return sr_webchat_pending_json(data);
}

int sr_cmd_demo(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "smrelay demo: unknown argument '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *user = getenv("SM_WEBCHAT_USER");
	if (!user || !*user)
		user = "you";
	char err[1024] = "";
	if (set_up_defaults(user, err, sizeof(err)) < 0) {
		fprintf(stderr, "smrelay demo: %s\n", err[0] ? err : "out of memory");
		free_defaults();
		return 1;
	}
	if (getenv("SM_MM_URL") && *getenv("SM_MM_URL"))
		fprintf(stderr, "smrelay demo: SM_MM_URL is ignored: the demo's chat is the built-in "
				"web chat (use 'smrelay serve' for Mattermost)\n");
	struct sr_config cfg;
	int rc = sr_config_load(&cfg, demo_getenv, err, sizeof(err));
	free_defaults();
	if (rc < 0) {
		fprintf(stderr, "smrelay demo: %s\n", err);
		return 2;
	}
	sr_log_set_level(cfg.log_level);
	sr_log_set_json(cfg.log_json);
	struct demo d = {0};
	struct sr_fw *fw = NULL;
	struct sr_http *http = NULL;
	struct sr_webchat *wc = NULL;
	struct sr_ctl *ctl = NULL;
	struct sr_health health = {0};
	char *sock = NULL;
	rc = sr_loop_new(&d.loop);
	if (rc == 0)
		rc = sr_loop_signal(d.loop, SIGINT, on_signal, &d);
	if (rc == 0)
		rc = sr_loop_signal(d.loop, SIGTERM, on_signal, &d);
	if (rc < 0) {
		fprintf(stderr, "smrelay demo: event loop: %s\n", strerror(-rc));
	} else {
		struct sr_relay_opts o = {.loop = d.loop, .cfg = &cfg};
		rc = sr_relay_new(&o, &d.relay, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay demo: %s\n", err);
	}
	if (rc == 0) {
		/* what a killed demo left behind (its threads died with it) */
		unsigned left = stop_all(&d, NULL);
		if (left)
			sr_log(SR_LOG_INFO, "demo: stopping %u session(s) left by an earlier demo", left);
		rc = sr_fw_new(d.loop, &cfg, &fw, err, sizeof(err));
		if (rc == 0)
			rc = sr_fw_follow(fw, d.relay);
		if (rc < 0)
			fprintf(stderr, "smrelay demo: firewall: %s\n", err[0] ? err : strerror(-rc));
	}
	if (rc == 0) {
		rc = sr_http_new(d.loop, cfg.listen_addr, &http, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay demo: SM_LISTEN_ADDR=%s: %s%s\n", cfg.listen_addr, err,
				rc == -EADDRINUSE ? " (another program uses the port: set SM_LISTEN_ADDR=127.0.0.1:8081)" : "");
	}
	if (rc == 0) {
		struct sr_webchat_opts wo = {.loop = d.loop, .cfg = &cfg, .relay = d.relay, .fw = fw,
					     .http = http, .user = user, .token = getenv("SM_WEBCHAT_TOKEN")};
		if (wo.token && !*wo.token)
			wo.token = NULL;
		rc = sr_webchat_new(&wo, &wc, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay demo: %s\n", err);
	}
	if (rc == 0) {
		health = (struct sr_health){.relay = d.relay, .chat = NULL, .fw = fw};
		rc = sr_health_routes(http, &health);
	}
	if (rc == 0) {
		rc = cfg.control_socket ? ((sock = strdup(cfg.control_socket)) ? 0 : -ENOMEM)
					: sr_ctl_default_path(cfg.state_dir, &sock);
		struct sr_ctl_opts co = {.loop = d.loop, .relay = d.relay, .path = sock,
					 .group = cfg.control_group, .fw = fw,
					 .decide = webchat_decide, .pending = webchat_pending,
					 .approvals = wc, .audit_path = cfg.audit_log};
		err[0] = '\0';
		if (rc == 0)
			rc = sr_ctl_new(&co, &ctl, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "smrelay demo: %s\n", err[0] ? err : strerror(-rc));
	}
	if (rc == 0) {
		char url[512];
		page_url(cfg.listen_addr, sr_http_port(http), sr_webchat_token(wc), url, sizeof(url));
		sr_log(SR_LOG_INFO, "smrelay %s demo: web chat on %s (port %u), %zu VM host(s), "
		       "state in %s, control socket %s",
		       SR_VERSION, cfg.listen_addr, sr_http_port(http), cfg.nvm_hosts, cfg.state_dir, sock);
		printf("smrelay demo: %s\n"
		       "\n"
		       "  Open %s in a browser and type  @claude start demo  in the channel.\n"
		       "  You are '%s'. Sessions run on %s with runtime %s in %s/demo;\n"
		       "  the firewall only logs (SM_FIREWALL=%s); audit log %s.\n"
		       "  From a shell:  SM_STATE_DIR=%s smrelay list\n"
		       "  Ctrl-C stops the demo and the sessions it started.\n",
		       url, url, user, cfg.nvm_hosts ? cfg.vm_hosts[0] : "?",
		       cfg.runtime == SR_RUNTIME_NONE ? "none" : cfg.runtime == SR_RUNTIME_DOCKER ? "docker" : "podman",
		       cfg.state_dir, cfg.firewall ? cfg.firewall : "log", cfg.audit_log ? cfg.audit_log : "off",
		       cfg.state_dir);
		fflush(stdout);
		rc = sr_loop_run(d.loop);
		if (rc < 0)
			sr_log(SR_LOG_ERROR, "demo: event loop failed: %s", strerror(-rc));
		else
			sr_log(SR_LOG_INFO, "demo: stopped (%u session(s) stopped)", d.stopped);
	}
	if (d.grace)
		sr_timer_cancel(d.grace);
	/* hook holders before the relay; the listener after the web chat */
	sr_ctl_free(ctl);
	sr_webchat_free(wc);
	sr_http_free(http);
	sr_fw_free(fw);
	sr_relay_free(d.relay);
	sr_loop_free(d.loop);
	free(sock);
	sr_config_free(&cfg);
	return rc < 0 ? 1 : 0;
}
