/* sr_health.c — health, readiness and metrics routes (see sr_health.h). */
#include "sr_health.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void healthz(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)data;
	(void)req;
	resp->body = strdup("{\"ok\":true}");
	resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static size_t hosts_up(const struct sr_relay *r)
{
	size_t n = 0;
	for (size_t i = 0; i < sr_relay_nhosts(r); i++)
		n += sr_host_ready(sr_relay_host(r, i)) != 0;
	return n;
}

static void readyz(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)req;
	struct sr_health *h = data;
	cJSON *o = cJSON_CreateObject();
	cJSON *why = cJSON_AddArrayToObject(o, "problems");
	if (hosts_up(h->relay) == 0) {
		for (size_t i = 0; i < sr_relay_nhosts(h->relay); i++) {
			char line[700];
			const struct sr_host *x = sr_relay_host(h->relay, i);
			snprintf(line, sizeof(line), "VM %s: %s", sr_host_name(x),
				 sr_host_last_error(x)[0] ? sr_host_last_error(x) : "connecting");
			cJSON_AddItemToArray(why, cJSON_CreateString(line));
		}
		if (!sr_relay_nhosts(h->relay))
			cJSON_AddItemToArray(why, cJSON_CreateString("no VM host configured"));
	}
	const char *fw_why = NULL;
	if (h->fw && !sr_fw_ready(h->fw, &fw_why)) {
		char line[400];
		snprintf(line, sizeof(line), "firewall (%s) is not answering: %s",
			 fw_backend_name(sr_fw_get(h->fw)), fw_why);
		cJSON_AddItemToArray(why, cJSON_CreateString(line));
	}
	if (h->chat && !sr_chat_connected(h->chat))
		cJSON_AddItemToArray(why, cJSON_CreateString("Mattermost is not connected"));
	int ok = cJSON_GetArraySize(why) == 0;
	cJSON_AddBoolToObject(o, "ready", ok);
	resp->status = ok ? 200 : 503;
	resp->body = cJSON_PrintUnformatted(o);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	cJSON_Delete(o);
}

static void metrics(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)req;
	struct sr_health *h = data;
	size_t n = sr_relay_list(h->relay, NULL, 0);
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	unsigned by[SR_RS_ENDED + 1] = {0};
	if (ids) {
		n = sr_relay_list(h->relay, ids, n);
		for (size_t i = 0; i < n; i++) {
			struct sr_relay_info in;
			if (sr_relay_info(h->relay, ids[i], &in) == 0 && in.state <= SR_RS_ENDED)
				by[in.state]++;
		}
	}
	free(ids);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return;
	fprintf(f, "# HELP smrelay_sessions Sessions by state.\n# TYPE smrelay_sessions gauge\n");
	for (int s = SR_RS_STARTING; s < SR_RS_ENDED; s++)
		fprintf(f, "smrelay_sessions{state=\"%s\"} %u\n", sr_rstate_name((enum sr_rstate)s), by[s]);
	fprintf(f, "# HELP smrelay_vm_hosts_up VM hosts with a ready SSH connection.\n"
		   "# TYPE smrelay_vm_hosts_up gauge\nsmrelay_vm_hosts_up %zu\n"
		   "# HELP smrelay_vm_hosts VM hosts configured.\n# TYPE smrelay_vm_hosts gauge\n"
		   "smrelay_vm_hosts %zu\n",
		hosts_up(h->relay), sr_relay_nhosts(h->relay));
	fprintf(f, "# HELP smrelay_chat_connected 1 while the Mattermost WebSocket is up.\n"
		   "# TYPE smrelay_chat_connected gauge\nsmrelay_chat_connected %d\n"
		   "# HELP smrelay_pending_approvals Approval cards waiting for a decision.\n"
		   "# TYPE smrelay_pending_approvals gauge\nsmrelay_pending_approvals %zu\n",
		h->chat ? sr_chat_connected(h->chat) : 0, sr_chat_pending(h->chat));
	struct sr_chat_metrics m;
	sr_chat_metrics(h->chat, &m);
	unsigned long attempts = 0;
	for (size_t i = 0; i < sr_relay_nhosts(h->relay); i++)
		attempts += sr_host_attempts(sr_relay_host(h->relay, i));
	fprintf(f, "# HELP smrelay_ssh_connects_total SSH connection attempts (first ones and reconnects).\n"
		   "# TYPE smrelay_ssh_connects_total counter\nsmrelay_ssh_connects_total %lu\n"
		   "# HELP smrelay_vt_bytes_total Program output fed to the virtual screens.\n"
		   "# TYPE smrelay_vt_bytes_total counter\nsmrelay_vt_bytes_total %llu\n",
		attempts, (unsigned long long)sr_relay_vt_bytes(h->relay));
	fprintf(f, "# HELP smrelay_rest_requests_total Mattermost REST requests sent.\n"
		   "# TYPE smrelay_rest_requests_total counter\nsmrelay_rest_requests_total %lu\n"
		   "# HELP smrelay_rest_429_total 429 answers (each retried).\n"
		   "# TYPE smrelay_rest_429_total counter\nsmrelay_rest_429_total %lu\n"
		   "# HELP smrelay_rest_failed_total REST requests that failed for good.\n"
		   "# TYPE smrelay_rest_failed_total counter\nsmrelay_rest_failed_total %lu\n"
		   "# HELP smrelay_pacer_queue REST requests waiting in the pacer.\n"
		   "# TYPE smrelay_pacer_queue gauge\nsmrelay_pacer_queue %zu\n",
		m.rest_sent, m.rest_429, m.rest_failed, m.rest_queued);
	fprintf(f, "# HELP smrelay_approvals_total Network requests decided, by result.\n"
		   "# TYPE smrelay_approvals_total counter\n"
		   "smrelay_approvals_total{result=\"approved\"} %lu\n"
		   "smrelay_approvals_total{result=\"denied\"} %lu\n"
		   "smrelay_approvals_total{result=\"failed\"} %lu\n"
		   "smrelay_approvals_total{result=\"expired\"} %lu\n",
		m.approved, m.denied, m.failed, m.expired);
	fclose(f);
	resp->content_type = "text/plain; version=0.0.4";
	resp->body = out;
	resp->body_len = len;
}

int sr_health_routes(struct sr_http *http, struct sr_health *h)
{
	int rc = sr_http_route(http, "GET", "/healthz", healthz, h);
	if (rc == 0)
		rc = sr_http_route(http, "GET", "/readyz", readyz, h);
	if (rc == 0)
		rc = sr_http_route(http, "GET", "/metrics", metrics, h);
	return rc;
}
