/* sr_ctl.c — the control socket server (see sr_ctl.h, sr_ctl_proto.h). */
#define _GNU_SOURCE /* struct ucred and SO_PEERCRED, accept4 */
#include "sr_ctl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fw_audit.h"
#include "sr_ctl_proto.h"
#include "sr_log.h"

#define OUT_MAX (8u << 20) /* a client that falls this far behind is dropped */

enum cstate { C_REQ, C_BUSY, C_ATTACHED, C_CLOSING };

struct client {
	struct sr_ctl *ctl;
	int fd;
	struct sr_watch *w;
	unsigned char *in;
	size_t in_len, in_cap;
	unsigned char *out;
	size_t out_len, out_off, out_cap;
	enum cstate st;
	bool orphan; /* closed while a start/stop was pending: freed by its callback */
	bool dead;   /* closed: freed at the next loop iteration (callers up the
	              * stack may still look at it) */
	bool read_only;
	char id[SR_RELAY_ID_LEN + 1];
	uid_t uid;
	char user[64];
};

/* Sizes to restore when the last interactive client detaches. */
struct saved_size {
	char id[SR_RELAY_ID_LEN + 1];
	unsigned cols, rows, interactive;
};

struct sr_ctl {
	struct sr_loop *loop;
	struct sr_relay *relay;
	struct sr_fw *fw;
	int (*decide)(void *data, const char *request, int approve, const char *user, char *msg,
		      size_t len);
	cJSON *(*pending)(void *data);
	void *approvals;
	char *audit_path;
	char *path;
	gid_t group;
	bool has_group;
	int fd;
	struct sr_watch *w;
	struct client **cl;
	size_t ncl, capcl;
	struct saved_size *sz;
	size_t nsz;
	struct client **dead;
	size_t ndead;
	struct sr_relay_hooks hooks;
};

/* ---- output ---------------------------------------------------------------- */

static void client_close(struct client *k);

static void update_events(struct client *k)
{
	if (k->dead)
		return;
	unsigned ev = k->st == C_CLOSING ? 0 : SR_EV_READ;
	if (k->out_len > k->out_off)
		ev |= SR_EV_WRITE;
	sr_watch_set_events(k->w, ev);
}

static int queue(struct client *k, const void *p, size_t n)
{
	if (k->dead)
		return -EPIPE;
	if (k->out_len - k->out_off + n > OUT_MAX)
		return -ENOBUFS;
	if (k->out_off && k->out_off == k->out_len)
		k->out_off = k->out_len = 0;
	if (k->out_len + n > k->out_cap) {
		size_t cap = k->out_cap ? k->out_cap : 4096;
		while (cap < k->out_len + n)
			cap *= 2;
		unsigned char *b = realloc(k->out, cap);
		if (!b)
			return -ENOMEM;
		k->out = b;
		k->out_cap = cap;
	}
	memcpy(k->out + k->out_len, p, n);
	k->out_len += n;
	update_events(k);
	return 0;
}

static void queue_frame(struct client *k, int type, const void *p, size_t n)
{
	unsigned char hdr[SR_CTL_FRAME_HDR];
	sr_frame_header(hdr, type, n);
	if (queue(k, hdr, sizeof(hdr)) < 0 || (n && queue(k, p, n) < 0)) {
		sr_log(SR_LOG_WARN, "control: a client of %s is too slow; dropping it", k->id);
		client_close(k);
	}
}

/* Sends a JSON reply line; the connection closes once it is written unless
 * keep is set. Takes o. */
static void reply(struct client *k, cJSON *o, bool keep)
{
	if (k->dead) {
		cJSON_Delete(o);
		return;
	}
	char *t = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!t || queue(k, t, strlen(t)) < 0 || queue(k, "\n", 1) < 0) {
		free(t);
		client_close(k);
		return;
	}
	free(t);
	if (!keep) {
		k->st = C_CLOSING;
		update_events(k);
	}
}

static const char *code_name(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "ENOENT";
	case -EINVAL:
		return "EINVAL";
	case -EBUSY:
		return "EBUSY";
	case -EHOSTUNREACH:
		return "EHOSTUNREACH";
	case -ENOTCONN:
		return "ENOTCONN";
	case -EACCES:
		return "EACCES";
	case -EALREADY:
		return "EALREADY";
	default:
		return "EIO";
	}
}

static void reply_error(struct client *k, int rc, const char *msg, const char *id)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg && *msg ? msg : strerror(-rc));
	cJSON_AddStringToObject(o, "code", code_name(rc));
	if (id && *id)
		cJSON_AddStringToObject(o, "id", id);
	reply(k, o, false);
}

static cJSON *ok_obj(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	return o;
}

/* ---- size policy ------------------------------------------------------------- */

static struct saved_size *size_for(struct sr_ctl *c, const char *id, bool create)
{
	for (size_t i = 0; i < c->nsz; i++)
		if (!strcmp(c->sz[i].id, id))
			return &c->sz[i];
	if (!create)
		return NULL;
	struct saved_size *n = realloc(c->sz, (c->nsz + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->sz = n;
	struct saved_size *z = &c->sz[c->nsz++];
	memset(z, 0, sizeof(*z));
	snprintf(z->id, sizeof(z->id), "%s", id);
	return z;
}

static void detach_size(struct client *k)
{
	struct sr_ctl *c = k->ctl;
	struct saved_size *z = size_for(c, k->id, false);
	if (!z || !z->interactive || --z->interactive)
		return;
	/* the last interactive client left: the chat's size comes back */
	sr_relay_resize(c->relay, k->id, z->cols, z->rows);
	*z = c->sz[--c->nsz];
}

/* ---- clients ------------------------------------------------------------------ */

static void client_free(struct client *k)
{
	sr_watch_remove(k->w);
	if (k->fd >= 0)
		close(k->fd);
	free(k->in);
	free(k->out);
	free(k);
}

static void reap_cb(void *data)
{
	struct sr_ctl *c = data;
	for (size_t i = 0; i < c->ndead; i++)
		client_free(c->dead[i]);
	c->ndead = 0;
}

/* Closes at once, frees later (or from its pending callback). */
static void client_close(struct client *k)
{
	if (k->dead)
		return;
	k->dead = true;
	struct sr_ctl *c = k->ctl;
	if (k->st == C_ATTACHED && !k->read_only)
		detach_size(k);
	for (size_t i = 0; i < c->ncl; i++)
		if (c->cl[i] == k) {
			c->cl[i] = c->cl[--c->ncl];
			break;
		}
	sr_watch_remove(k->w);
	k->w = NULL;
	close(k->fd);
	k->fd = -1;
	if (k->st == C_BUSY) {
		k->orphan = true; /* its start/stop callback still points here */
		return;
	}
	struct client **n = realloc(c->dead, (c->ndead + 1) * sizeof(*n));
	if (!n)
		return; /* a small leak beats a use-after-free */
	c->dead = n;
	c->dead[c->ndead++] = k;
	sr_loop_defer_cancel(c->loop, reap_cb, c);
	sr_loop_defer(c->loop, reap_cb, c);
}

static void done_cb(void *data, int rc, const char *id, const char *msg)
{
	struct client *k = data;
	if (k->orphan) {
		client_free(k);
		return;
	}
	k->st = C_REQ;
	if (rc < 0) {
		reply_error(k, rc, msg, id);
		return;
	}
	cJSON *o = ok_obj();
	cJSON_AddStringToObject(o, "id", id);
	if (msg && *msg)
		cJSON_AddStringToObject(o, "message", msg);
	reply(k, o, false);
}

static const char *jstr(const cJSON *req, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static unsigned juint(const cJSON *req, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, k);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 100000
		       ? (unsigned)v->valuedouble
		       : 0;
}

static void cmd_list(struct client *k)
{
	struct sr_ctl *c = k->ctl;
	size_t n = sr_relay_list(c->relay, NULL, 0);
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	cJSON *o = ok_obj();
	cJSON *arr = cJSON_AddArrayToObject(o, "sessions");
	if (!ids) {
		cJSON_Delete(o);
		reply_error(k, -ENOMEM, "out of memory", NULL);
		return;
	}
	n = sr_relay_list(c->relay, ids, n);
	cJSON *pending = c->pending ? c->pending(c->approvals) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct sr_relay_info in;
		if (sr_relay_info(c->relay, ids[i], &in) < 0)
			continue;
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "id", in.id);
		cJSON_AddStringToObject(s, "project", in.project ? in.project : "");
		cJSON_AddStringToObject(s, "host", in.host ? in.host : "");
		cJSON_AddStringToObject(s, "owner", in.owner ? in.owner : "");
		cJSON_AddStringToObject(s, "state", sr_rstate_name(in.state));
		cJSON_AddNumberToObject(s, "created", (double)in.created);
		cJSON_AddNumberToObject(s, "cols", in.cols);
		cJSON_AddNumberToObject(s, "rows", in.rows);
		cJSON_AddNumberToObject(s, "attached", sr_ctl_attached(c, in.id));
		if (in.workdir)
			cJSON_AddStringToObject(s, "workdir", in.workdir);
		cJSON *pa = cJSON_AddArrayToObject(s, "pending");
		const cJSON *p;
		cJSON_ArrayForEach(p, pending)
		{
			const cJSON *ps = cJSON_GetObjectItemCaseSensitive(p, "session");
			if (cJSON_IsString(ps) && !strcmp(ps->valuestring, in.id))
				cJSON_AddItemToArray(pa, cJSON_Duplicate(p, 1));
		}
		cJSON_AddItemToArray(arr, s);
	}
	cJSON_Delete(pending);
	free(ids);
	reply(k, o, false);
}

static void cmd_start(struct client *k, const cJSON *req)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(req, "args");
	int n = cJSON_GetArraySize(args);
	if (!cJSON_IsArray(args) || n < 1 || n > 8) {
		reply_error(k, -EINVAL, "start needs a project: org/repo[@branch] [--worktree[=name]] or a project name", NULL);
		return;
	}
	const char *words[8];
	for (int i = 0; i < n; i++) {
		const cJSON *w = cJSON_GetArrayItem(args, i);
		if (!cJSON_IsString(w)) {
			reply_error(k, -EINVAL, "start: arguments must be strings", NULL);
			return;
		}
		words[i] = w->valuestring;
	}
	const char *owner = jstr(req, "owner");
	char id[SR_RELAY_ID_LEN + 1], err[512];
	k->st = C_BUSY;
	int rc = sr_relay_start(k->ctl->relay, n, words, owner ? owner : k->user, done_cb, k, id,
				err, sizeof(err));
	if (rc < 0) {
		k->st = C_REQ;
		reply_error(k, rc, err, NULL);
	}
}

static void cmd_stop(struct client *k, const char *id)
{
	char err[256];
	k->st = C_BUSY;
	int rc = sr_relay_stop(k->ctl->relay, id, done_cb, k, err, sizeof(err));
	if (rc < 0) {
		k->st = C_REQ;
		reply_error(k, rc, err, id);
	}
}

static void cmd_attach(struct client *k, const char *id, const cJSON *req)
{
	struct sr_ctl *c = k->ctl;
	struct sr_relay_info in;
	if (sr_relay_info(c->relay, id, &in) < 0) {
		reply_error(k, -ENOENT, "no such session", id);
		return;
	}
	const cJSON *ro = cJSON_GetObjectItemCaseSensitive(req, "read_only");
	k->read_only = cJSON_IsTrue(ro);
	snprintf(k->id, sizeof(k->id), "%s", id);
	unsigned cols = juint(req, "cols"), rows = juint(req, "rows");
	if (!k->read_only && cols >= 2 && rows >= 1) {
		struct saved_size *z = size_for(c, id, true);
		if (z && z->interactive++ == 0) {
			z->cols = in.cols;
			z->rows = in.rows;
		}
		int rc = sr_relay_resize(c->relay, id, cols, rows);
		if (rc < 0)
			sr_log(SR_LOG_WARN, "control: resize of %s to %ux%u: %s", id, cols, rows,
			       strerror(-rc));
	} else if (!k->read_only) {
		struct saved_size *z = size_for(c, id, true);
		if (z && z->interactive++ == 0) {
			z->cols = in.cols;
			z->rows = in.rows;
		}
	}
	char *paint = NULL;
	size_t plen = 0;
	int rc = sr_relay_repaint(c->relay, id, &paint, &plen);
	if (rc < 0) {
		if (!k->read_only)
			detach_size(k);
		reply_error(k, rc, rc == -ENOTCONN ? "the session is not running yet" : NULL, id);
		return;
	}
	sr_relay_info(c->relay, id, &in);
	cJSON *o = ok_obj();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "cols", in.cols);
	cJSON_AddNumberToObject(o, "rows", in.rows);
	cJSON_AddBoolToObject(o, "read_only", k->read_only);
	k->st = C_ATTACHED;
	reply(k, o, true);
	queue_frame(k, SR_FRAME_OUTPUT, paint, plen);
	free(paint);
	sr_log(SR_LOG_INFO, "control: %s attached to %s%s", k->user, id,
	       k->read_only ? " (read-only)" : "");
}

static void fw_done(void *data, int rc, const char *msg)
{
	struct client *k = data;
	if (k->orphan) {
		client_free(k);
		return;
	}
	k->st = C_REQ;
	if (rc < 0) {
		reply_error(k, rc, msg, NULL);
		return;
	}
	cJSON *o = ok_obj();
	if (msg && *msg)
		cJSON_AddStringToObject(o, "message", msg);
	reply(k, o, false);
}

static void fw_listed(void *data, int rc, const char *const *hosts, size_t n, const char *msg)
{
	struct client *k = data;
	if (k->orphan) {
		client_free(k);
		return;
	}
	k->st = C_REQ;
	if (rc < 0) {
		reply_error(k, rc, msg, NULL);
		return;
	}
	cJSON *o = ok_obj();
	cJSON *a = cJSON_AddArrayToObject(o, "hosts");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(hosts[i]));
	reply(k, o, false);
}

static void cmd_fw(struct client *k, const char *cmd, const cJSON *req)
{
	struct sr_ctl *c = k->ctl;
	if (!c->fw) {
		reply_error(k, -EINVAL, "no firewall in this daemon", NULL);
		return;
	}
	const char *host = jstr(req, "host");
	char err[512] = "";
	int rc;
	k->st = C_BUSY;
	if (!strcmp(cmd, "allowed")) {
		rc = fw_list(sr_fw_get(c->fw), fw_listed, k);
	} else if (!host) {
		rc = -EINVAL;
		snprintf(err, sizeof(err), "%s needs a host", cmd);
	} else if (!strcmp(cmd, "allow")) {
		const char *session = jstr(req, "session");
		struct fw_actor who = {.user = k->user, .session = session,
				       .scope = session ? FW_SCOPE_SESSION : FW_SCOPE_PERMANENT};
		rc = fw_add(sr_fw_get(c->fw), host, &who, fw_done, k, err, sizeof(err));
	} else {
		struct fw_actor who = {.user = k->user, .scope = FW_SCOPE_PERMANENT};
		rc = fw_remove(sr_fw_get(c->fw), host, &who, fw_done, k, err, sizeof(err));
	}
	sr_fw_kick(c->fw);
	if (rc < 0) {
		k->st = C_REQ;
		reply_error(k, rc, err, NULL);
	}
}

static void cmd_decide(struct client *k, const char *cmd, const char *request)
{
	struct sr_ctl *c = k->ctl;
	if (!c->decide) {
		reply_error(k, -ENOENT, "no chat: there are no approval requests", NULL);
		return;
	}
	char msg[512];
	int rc = c->decide(c->approvals, request, !strcmp(cmd, "approve"), k->user, msg, sizeof(msg));
	if (rc < 0) {
		reply_error(k, rc, msg, NULL);
		return;
	}
	cJSON *o = ok_obj();
	cJSON_AddStringToObject(o, "message", msg);
	reply(k, o, false);
}

struct audit_acc {
	cJSON *arr;
	size_t n;
};

static int audit_rec(void *data, const struct fw_audit_rec *r)
{
	struct audit_acc *a = data;
	cJSON *o = cJSON_CreateObject();
	char t[40];
	fw_audit_time(r->time_ms, t, sizeof(t));
	cJSON_AddStringToObject(o, "time", t);
	const char *k[] = {"action", "op", "host", "user", "session", "scope", "backend", "result", "message"};
	const char *v[] = {r->action, r->op, r->host, r->user, r->session, r->scope, r->backend, r->result, r->message};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (v[i])
			cJSON_AddStringToObject(o, k[i], v[i]);
	cJSON_AddItemToArray(a->arr, o);
	/* keep the newest 2000: a reply stays well under the frame limit */
	if (++a->n > 2000)
		cJSON_DeleteItemFromArray(a->arr, 0);
	return 0;
}

static void cmd_audit(struct client *k, const cJSON *req)
{
	struct sr_ctl *c = k->ctl;
	if (!c->audit_path) {
		reply_error(k, -ENOENT, "no audit log is kept (set SM_AUDIT_LOG)", NULL);
		return;
	}
	const cJSON *since = cJSON_GetObjectItemCaseSensitive(req, "since");
	cJSON *o = ok_obj();
	struct audit_acc a = {.arr = cJSON_AddArrayToObject(o, "records")};
	char err[512] = "";
	int rc = fw_audit_read(c->audit_path, cJSON_IsNumber(since) ? (int64_t)since->valuedouble : 0,
			       audit_rec, &a, NULL, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		cJSON_Delete(o);
		reply_error(k, rc, err, NULL);
		return;
	}
	reply(k, o, false);
}

static void dispatch(struct client *k, const char *line)
{
	cJSON *req = cJSON_Parse(line);
	if (!cJSON_IsObject(req)) {
		cJSON_Delete(req);
		reply_error(k, -EINVAL, "the request is not a JSON object", NULL);
		return;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "v");
	const char *cmd = jstr(req, "cmd");
	const char *id = jstr(req, "id");
	struct sr_relay *r = k->ctl->relay;
	char err[512] = "";
	int rc = 0;
	if (!cJSON_IsNumber(v) || v->valueint != SR_CTL_VERSION) {
		snprintf(err, sizeof(err), "protocol version %d expected (client and daemon differ)",
			 SR_CTL_VERSION);
		reply_error(k, -EINVAL, err, NULL);
	} else if (!cmd) {
		reply_error(k, -EINVAL, "missing \"cmd\"", NULL);
	} else if (!strcmp(cmd, "hello")) {
		cJSON *o = ok_obj();
		cJSON_AddNumberToObject(o, "v", SR_CTL_VERSION);
		cJSON_AddStringToObject(o, "user", k->user);
		reply(k, o, false);
	} else if (!strcmp(cmd, "list")) {
		cmd_list(k);
	} else if (!strcmp(cmd, "start")) {
		cmd_start(k, req);
	} else if (!strcmp(cmd, "allow") || !strcmp(cmd, "revoke") || !strcmp(cmd, "allowed")) {
		cmd_fw(k, cmd, req);
	} else if (!strcmp(cmd, "approve") || !strcmp(cmd, "deny")) {
		const char *rq = jstr(req, "request");
		if (rq)
			cmd_decide(k, cmd, rq);
		else
			reply_error(k, -EINVAL, "missing \"request\" (see smrelay list --json)", NULL);
	} else if (!strcmp(cmd, "audit")) {
		cmd_audit(k, req);
	} else if (!id) {
		reply_error(k, -EINVAL, "missing session \"id\"", NULL);
	} else if (!strcmp(cmd, "stop")) {
		cmd_stop(k, id);
	} else if (!strcmp(cmd, "attach")) {
		cmd_attach(k, id, req);
	} else if (!strcmp(cmd, "screen")) {
		char *t = NULL;
		rc = sr_relay_screen_text(r, id, &t);
		if (rc < 0) {
			reply_error(k, rc, rc == -ENOENT ? "no such session" : NULL, id);
		} else {
			cJSON *o = ok_obj();
			cJSON_AddStringToObject(o, "text", t);
			free(t);
			reply(k, o, false);
		}
	} else if (!strcmp(cmd, "send") || !strcmp(cmd, "keys") || !strcmp(cmd, "resize")) {
		if (!strcmp(cmd, "send")) {
			const char *text = jstr(req, "text");
			rc = text ? sr_relay_send_text(r, id, text) : -EINVAL;
		} else if (!strcmp(cmd, "keys")) {
			const char *spec = jstr(req, "spec");
			rc = spec ? sr_relay_send_keys(r, id, spec, err, sizeof(err)) : -EINVAL;
		} else {
			rc = sr_relay_resize(r, id, juint(req, "cols"), juint(req, "rows"));
			if (rc == -EINVAL)
				snprintf(err, sizeof(err), "size must be 2..1000 columns and 1..500 rows");
		}
		if (rc == -ENOENT)
			snprintf(err, sizeof(err), "no such session");
		else if (rc == -ENOTCONN)
			snprintf(err, sizeof(err), "the session is not attached right now (starting or reconnecting); try again shortly");
		if (rc < 0)
			reply_error(k, rc, err, id);
		else
			reply(k, ok_obj(), false);
	} else {
		snprintf(err, sizeof(err), "unknown command '%.40s'", cmd);
		reply_error(k, -EINVAL, err, NULL);
	}
	cJSON_Delete(req);
}

static void handle_frames(struct client *k)
{
	size_t off = 0;
	while (k->st == C_ATTACHED) {
		int type;
		const unsigned char *p;
		size_t n;
		long f = sr_frame_parse(k->in + off, k->in_len - off, &type, &p, &n);
		if (f < 0) {
			client_close(k);
			return;
		}
		if (f == 0)
			break;
		off += (size_t)f;
		if (type == SR_FRAME_INPUT && !k->read_only) {
			int rc = sr_relay_send_raw(k->ctl->relay, k->id, (const char *)p, n);
			if (rc < 0 && rc != -ENOTCONN)
				sr_log(SR_LOG_WARN, "control: input to %s: %s", k->id, strerror(-rc));
		} else if (type == SR_FRAME_RESIZE && !k->read_only && n == 4) {
			unsigned cols = (unsigned)p[0] << 8 | p[1], rows = (unsigned)p[2] << 8 | p[3];
			sr_relay_resize(k->ctl->relay, k->id, cols, rows);
		} else if (type == SR_FRAME_DETACH) {
			queue_frame(k, SR_FRAME_END, "detached", 8);
			if (!k->read_only)
				detach_size(k);
			k->read_only = true; /* sizes are settled */
			k->st = C_CLOSING;
			update_events(k);
			return;
		}
	}
	memmove(k->in, k->in + off, k->in_len - off);
	k->in_len -= off;
}

static void client_read(struct client *k)
{
	bool eof = false;
	for (;;) {
		if (k->in_len == k->in_cap) {
			if (k->in_cap >= SR_CTL_MAX + SR_CTL_FRAME_HDR) {
				if (k->st == C_REQ)
					reply_error(k, -EINVAL, "request too long", NULL);
				else
					client_close(k);
				return;
			}
			size_t cap = k->in_cap ? k->in_cap * 2 : 4096;
			unsigned char *b = realloc(k->in, cap);
			if (!b) {
				client_close(k);
				return;
			}
			k->in = b;
			k->in_cap = cap;
		}
		ssize_t n = read(k->fd, k->in + k->in_len, k->in_cap - k->in_len);
		if (n == 0) {
			eof = true; /* a half-close after the request is fine */
			break;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(k);
			return;
		}
		if (n < 0)
			break;
		k->in_len += (size_t)n;
	}
	if (k->st == C_REQ) {
		unsigned char *nl = memchr(k->in, '\n', k->in_len);
		if (!nl) {
			if (eof)
				client_close(k);
			return;
		}
		*nl = '\0';
		size_t used = (size_t)(nl - k->in) + 1;
		char *line = strdup((char *)k->in);
		memmove(k->in, k->in + used, k->in_len - used);
		k->in_len -= used;
		if (!line) {
			client_close(k);
			return;
		}
		dispatch(k, line);
		free(line);
	}
	if (k->st == C_ATTACHED && !k->dead)
		handle_frames(k);
	if (eof && !k->dead) {
		if (k->st == C_ATTACHED)
			client_close(k); /* the attached terminal went away */
		else if (k->st == C_REQ || k->st == C_CLOSING)
			update_events(k); /* the reply goes out, then it closes */
	}
}

static void client_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)fd;
	struct client *k = data;
	if (revents & SR_EV_WRITE) {
		while (k->out_off < k->out_len) {
			ssize_t n = write(k->fd, k->out + k->out_off, k->out_len - k->out_off);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				client_close(k);
				return;
			}
			k->out_off += (size_t)n;
		}
		if (k->out_off == k->out_len && k->st == C_CLOSING) {
			client_close(k);
			return;
		}
		update_events(k);
	}
	if (revents & (SR_EV_READ | SR_EV_ERROR | SR_EV_HUP)) {
		if (k->st == C_CLOSING) {
			if (revents & (SR_EV_ERROR | SR_EV_HUP))
				client_close(k);
			return;
		}
		client_read(k);
	}
}

/* The daemon's user, root, or a member of the configured group. */
static bool peer_allowed(struct sr_ctl *c, const struct ucred *cr, const char *user)
{
	if (cr->uid == geteuid() || cr->uid == 0)
		return true;
	if (!c->has_group)
		return false;
	if (cr->gid == c->group)
		return true;
	gid_t groups[256];
	int n = 256;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (!user[0] || getpwuid_r(cr->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == c->group)
			return true;
	return false;
}

static void accept_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)revents;
	struct sr_ctl *c = data;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		struct ucred cr;
		socklen_t len = sizeof(cr);
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			close(cfd);
			continue;
		}
		struct client *k = calloc(1, sizeof(*k));
		if (!k) {
			close(cfd);
			continue;
		}
		k->ctl = c;
		k->fd = cfd;
		k->uid = cr.uid;
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwuid_r(cr.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
			snprintf(k->user, sizeof(k->user), "%s", pw.pw_name);
		else
			snprintf(k->user, sizeof(k->user), "uid%ld", (long)cr.uid);
		if (sr_loop_watch(c->loop, cfd, SR_EV_READ, client_cb, k, &k->w) < 0) {
			close(cfd);
			free(k);
			continue;
		}
		if (c->ncl == c->capcl) {
			size_t cap = c->capcl ? c->capcl * 2 : 8;
			struct client **n = realloc(c->cl, cap * sizeof(*n));
			if (!n) {
				client_free(k);
				continue;
			}
			c->cl = n;
			c->capcl = cap;
		}
		c->cl[c->ncl++] = k;
		if (!peer_allowed(c, &cr, k->user)) {
			sr_log(SR_LOG_WARN, "control: refused %s (uid %ld): not the daemon's user or group",
			       k->user, (long)cr.uid);
			reply_error(k, -EACCES, "permission denied: the relay accepts only its own user"
						" (and SM_CONTROL_GROUP)", NULL);
		}
	}
}

/* ---- relay hooks --------------------------------------------------------------- */

static void hook_raw(void *data, const char *id, const char *buf, size_t len)
{
	struct sr_ctl *c = data;
	for (size_t i = c->ncl; i-- > 0;) {
		if (i >= c->ncl)
			continue;
		struct client *k = c->cl[i];
		if (k->st == C_ATTACHED && !strcmp(k->id, id))
			queue_frame(k, SR_FRAME_OUTPUT, buf, len);
	}
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	struct sr_ctl *c = data;
	if (st != SR_RS_ENDED)
		return;
	char msg[600];
	snprintf(msg, sizeof(msg), "session %s ended: %s", id, why ? why : "");
	for (size_t i = c->ncl; i-- > 0;) {
		if (i >= c->ncl)
			continue;
		struct client *k = c->cl[i];
		if (k->st != C_ATTACHED || strcmp(k->id, id))
			continue;
		k->read_only = true; /* nothing to restore on a session that ended */
		queue_frame(k, SR_FRAME_END, msg, strlen(msg));
		k->st = C_CLOSING;
		update_events(k);
	}
	struct saved_size *z = size_for(c, id, false);
	if (z)
		*z = c->sz[--c->nsz];
}

/* ---- setup ----------------------------------------------------------------------- */

int sr_ctl_new(const struct sr_ctl_opts *o, struct sr_ctl **out, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!o || !o->loop || !o->relay || !o->path || !out)
		return -EINVAL;
	*out = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(o->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", o->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, o->path);
	struct sr_ctl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = o->loop;
	c->relay = o->relay;
	c->fw = o->fw;
	c->decide = o->decide;
	c->pending = o->pending;
	c->approvals = o->approvals;
	c->audit_path = o->audit_path ? strdup(o->audit_path) : NULL;
	c->fd = -1;
	c->path = strdup(o->path);
	if (!c->path) {
		free(c);
		return -ENOMEM;
	}
	int rc = 0;
	if (o->group) {
		struct group gr, *res = NULL;
		char buf[4096];
		if (getgrnam_r(o->group, &gr, buf, sizeof(buf), &res) != 0 || !res) {
			snprintf(err, errlen, "SM_CONTROL_GROUP: no group named '%s'", o->group);
			rc = -EINVAL;
			goto fail;
		}
		c->group = gr.gr_gid;
		c->has_group = true;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	/* A socket file left by a killed daemon is stale if nobody answers. */
	struct stat st;
	if (lstat(o->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", o->path);
			rc = -EEXIST;
			goto fail;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "another smrelay daemon is listening on %s", o->path);
			rc = -EADDRINUSE;
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		unlink(o->path);
	}
	/* Created 0600 (0660 with a group) from the start: no window in
	 * which another user could connect. */
	mode_t old = umask(c->has_group ? 0117 : 0177);
	int b = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (b < 0 || listen(c->fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", o->path, strerror(errno));
		goto fail;
	}
	if (c->has_group && chown(o->path, (uid_t)-1, c->group) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: cannot give it to group %s: %s", o->group,
			 strerror(errno));
		unlink(o->path);
		goto fail;
	}
	rc = sr_loop_watch(c->loop, c->fd, SR_EV_READ, accept_cb, c, &c->w);
	if (rc == 0) {
		c->hooks = (struct sr_relay_hooks){.on_raw = hook_raw, .on_state = hook_state, .data = c};
		rc = sr_relay_add_hooks(c->relay, &c->hooks);
		if (rc < 0)
			sr_watch_remove(c->w);
	}
	if (rc < 0) {
		unlink(o->path);
		snprintf(err, errlen, "control socket: %s", strerror(-rc));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->audit_path);
	free(c->path);
	free(c);
	return rc;
}

void sr_ctl_free(struct sr_ctl *c)
{
	if (!c)
		return;
	sr_relay_remove_hooks(c->relay, &c->hooks);
	/* interactive attachers leave: the sessions get their sizes back */
	for (size_t i = 0; i < c->ncl; i++)
		if (c->cl[i]->st == C_ATTACHED && !c->cl[i]->read_only)
			detach_size(c->cl[i]);
	sr_loop_defer_cancel(c->loop, reap_cb, c);
	reap_cb(c);
	free(c->dead);
	while (c->ncl) {
		struct client *k = c->cl[--c->ncl];
		/* a pending start/stop keeps its callback pointer: orphan it */
		if (k->st == C_BUSY) {
			sr_watch_remove(k->w);
			k->w = NULL;
			close(k->fd);
			k->fd = -1;
			k->orphan = true;
		} else {
			client_free(k);
		}
	}
	free(c->cl);
	free(c->sz);
	sr_watch_remove(c->w);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c->audit_path);
	free(c);
}

unsigned sr_ctl_attached(const struct sr_ctl *c, const char *id)
{
	unsigned n = 0;
	for (size_t i = 0; c && i < c->ncl; i++)
		n += c->cl[i]->st == C_ATTACHED && !strcmp(c->cl[i]->id, id);
	return n;
}
