/* fw_core.c — the core of fw.h: the queue with its one writer, scopes and
 * their reference counts, the allowed-hosts table (fw_is_allowed), the
 * audit trail of every decision, and the loop contract that delegates to
 * the backend's fds and deadline (fw_backend.h).
 *
 * Every change goes through one FIFO queue and is started only from
 * fw_step, one at a time; the table that scopes and fw_is_allowed read is
 * updated when the backend reports the change applied. A session's end is
 * itself a queue entry, so it sees every approval queued before it. */
#include "fw.h"
#include "fw_audit.h"
#include "fw_backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TABLE_FILE "fw-approvals.json"

enum qkind {
	Q_ADD,
	Q_REMOVE,
	Q_LIST,
	Q_SESSION_END,
	Q_SEED, /* the backend's list at start, to fill the table */
};

struct qop {
	struct qop *next;
	enum qkind kind;
	char host[FW_HOST_MAX + 1];
	char *user, *session;
	enum fw_scope scope;
	fw_done_cb done;
	fw_list_cb list_cb;
	void *data;
	struct qop *parent; /* a session end waiting for this removal */
	bool expanded;      /* session end: its removals were queued */
	int rc;             /* session end: the first failure of its removals */
	char msg[256];
};

/* One allowed (or wanted) host and who needs it. */
struct entry {
	char host[FW_HOST_MAX + 1];
	bool present;   /* the backend has it (as far as we know) */
	bool permanent; /* a permanent approval, or found in the backend at start */
	char **sessions;
	size_t nsess;
};

struct fw {
	struct fw_be be;
	struct fw_opts opts; /* deep copy: backends keep pointers into it */
	char *state_dir;
	const char *const *deny;
	void (*log)(void *, const char *);
	void *log_data;
	struct fw_audit *audit;
	char **kept; /* every string copied from the options */
	size_t nkept;

	struct qop *head, *tail;
	struct qop *cur; /* == head while the backend works on it */
	bool cur_done;
	int cur_rc;
	char cur_msg[512];
	char **cur_hosts;
	size_t cur_n;
	bool in_step;

	struct entry *tab;
	size_t ntab, captab;
};

/* ---- small helpers -------------------------------------------------- */

uint64_t fw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *errno_name(int rc)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{EACCES, "EACCES"},       {EPERM, "EPERM"},         {EINVAL, "EINVAL"},
		{EIO, "EIO"},             {ETIMEDOUT, "ETIMEDOUT"}, {ECONNREFUSED, "ECONNREFUSED"},
		{EPROTO, "EPROTO"},       {ENOENT, "ENOENT"},       {EBADMSG, "EBADMSG"},
		{EOPNOTSUPP, "EOPNOTSUPP"}, {EAGAIN, "EAGAIN"},     {ECANCELED, "ECANCELED"},
		{ENOMEM, "ENOMEM"},       {EHOSTUNREACH, "EHOSTUNREACH"}, {ECONNRESET, "ECONNRESET"},
		{EBUSY, "EBUSY"},         {ENOTSUP, "ENOTSUP"},     {EEXIST, "EEXIST"},
	};
	static char buf[16];
	if (rc == 0)
		return "ok";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (-rc == names[i].e)
			return names[i].n;
	snprintf(buf, sizeof(buf), "E%d", -rc);
	return buf;
}

static const char *scope_name(enum fw_scope s)
{
	return s == FW_SCOPE_SESSION ? "session" : "permanent";
}

static char *keep(struct fw *f, const char *s)
{
	if (!s)
		return NULL;
	char **nk = realloc(f->kept, (f->nkept + 1) * sizeof(*nk));
	if (!nk)
		return NULL;
	f->kept = nk;
	char *c = strdup(s);
	if (c)
		f->kept[f->nkept++] = c;
	return c;
}

/* Copies a NULL-terminated list; NULL stays NULL. *ok cleared on ENOMEM. */
static const char *const *keep_list(struct fw *f, const char *const *l, bool *ok)
{
	if (!l)
		return NULL;
	size_t n = 0;
	while (l[n])
		n++;
	char **nk = realloc(f->kept, (f->nkept + 1) * sizeof(*nk));
	if (!nk) {
		*ok = false;
		return NULL;
	}
	f->kept = nk;
	char **c = calloc(n + 1, sizeof(*c));
	if (!c) {
		*ok = false;
		return NULL;
	}
	f->kept[f->nkept++] = (char *)c;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = keep(f, l[i])))
			*ok = false;
	return (const char *const *)c;
}

static void audit(struct fw *f, const char *action, const char *op, const char *host,
		  const char *user, const char *session, const char *scope, const char *result,
		  const char *msg)
{
	if (!f->audit)
		return;
	struct fw_audit_rec r = {
		.action = action,
		.op = op,
		.host = host,
		.user = user ? user : "relay",
		.session = session,
		.scope = scope,
		.backend = f->be.ops->name,
		.result = result,
		.message = msg,
	};
	char err[256];
	if (fw_audit_append(f->audit, &r, err, sizeof(err)) < 0 && f->log)
		f->log(f->log_data, err);
}

void fw_be_note(struct fw_be *be, const char *action, const char *host, const char *result,
		const char *msg)
{
	struct fw *f = be->fw;
	if (!f)
		return;
	audit(f, action, NULL, host, "relay", NULL, NULL, result, msg);
	if (f->log && msg) {
		char line[600];
		snprintf(line, sizeof(line), "firewall %s: %s", f->be.ops->name, msg);
		f->log(f->log_data, line);
	}
}

/* ---- the table ------------------------------------------------------ */

static struct entry *find(const struct fw *f, const char *host)
{
	for (size_t i = 0; i < f->ntab; i++)
		if (strcmp(f->tab[i].host, host) == 0)
			return &f->tab[i];
	return NULL;
}

static struct entry *find_or_add(struct fw *f, const char *host)
{
	struct entry *e = find(f, host);
	if (e)
		return e;
	if (f->ntab == f->captab) {
		size_t cap = f->captab ? f->captab * 2 : 16;
		struct entry *nt = realloc(f->tab, cap * sizeof(*nt));
		if (!nt)
			return NULL;
		f->tab = nt;
		f->captab = cap;
	}
	e = &f->tab[f->ntab++];
	memset(e, 0, sizeof(*e));
	snprintf(e->host, sizeof(e->host), "%s", host);
	return e;
}

static void drop_entry(struct fw *f, struct entry *e)
{
	for (size_t i = 0; i < e->nsess; i++)
		free(e->sessions[i]);
	free(e->sessions);
	size_t idx = (size_t)(e - f->tab);
	f->tab[idx] = f->tab[--f->ntab];
}

static bool has_session(const struct entry *e, const char *s)
{
	for (size_t i = 0; i < e->nsess; i++)
		if (strcmp(e->sessions[i], s) == 0)
			return true;
	return false;
}

static int add_session(struct entry *e, const char *s)
{
	if (has_session(e, s))
		return 0;
	char **ns = realloc(e->sessions, (e->nsess + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	e->sessions = ns;
	if (!(ns[e->nsess] = strdup(s)))
		return -ENOMEM;
	e->nsess++;
	return 0;
}

static bool drop_session(struct entry *e, const char *s)
{
	for (size_t i = 0; i < e->nsess; i++) {
		if (strcmp(e->sessions[i], s) == 0) {
			free(e->sessions[i]);
			e->sessions[i] = e->sessions[--e->nsess];
			return true;
		}
	}
	return false;
}

static bool referenced(const struct entry *e)
{
	return e->permanent || e->nsess > 0;
}

static void add_ref(struct fw *f, struct entry *e, const struct qop *q)
{
	if (q->scope == FW_SCOPE_PERMANENT || !q->session)
		e->permanent = true;
	else if (add_session(e, q->session) < 0 && f->log)
		f->log(f->log_data, "firewall: out of memory recording a session scope");
}

/* The table survives a restart (state_dir/fw-approvals.json), so a
 * session-scoped approval is still removed when its session ends after the
 * relay restarted. Written to a temporary file and renamed: never torn. */
static void save_table(struct fw *f)
{
	if (!f->state_dir)
		return;
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON *hosts = cJSON_AddObjectToObject(root, "hosts");
	for (size_t i = 0; i < f->ntab; i++) {
		const struct entry *e = &f->tab[i];
		if (!e->present && !referenced(e))
			continue;
		cJSON *h = cJSON_AddObjectToObject(hosts, e->host);
		cJSON_AddBoolToObject(h, "permanent", e->permanent);
		cJSON *s = cJSON_AddArrayToObject(h, "sessions");
		for (size_t j = 0; j < e->nsess; j++)
			cJSON_AddItemToArray(s, cJSON_CreateString(e->sessions[j]));
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", f->state_dir, TABLE_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	bool ok = false;
	if (fd >= 0) {
		size_t n = strlen(text);
		ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
		ok = close(fd) == 0 && ok;
		ok = ok && rename(tmp, path) == 0;
		if (!ok)
			unlink(tmp);
	}
	free(text);
	if (!ok)
		fw_be_note(&f->be, "notice", NULL, "failed",
			   "cannot save the approval table (" TABLE_FILE ") in the state directory");
}

static void load_table(struct fw *f)
{
	if (!f->state_dir)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", f->state_dir, TABLE_FILE);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return;
	char *text = NULL;
	size_t cap = 0, len = 0;
	char buf[4096];
	size_t r;
	while ((r = fread(buf, 1, sizeof(buf), fp)) > 0) {
		char *nt = realloc(text, cap = len + r + 1);
		if (!nt)
			break;
		text = nt;
		memcpy(text + len, buf, r);
		len += r;
		text[len] = '\0';
	}
	fclose(fp);
	cJSON *root = text ? cJSON_Parse(text) : NULL;
	free(text);
	cJSON *h;
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(root, "hosts"))
	{
		char norm[FW_HOST_MAX + 1], why[128];
		/* re-checked: a policy tightened since (deny list) wins */
		if (!h->string || fw_host_normalize(h->string, f->deny, norm, sizeof(norm), why,
						     sizeof(why)) < 0)
			continue;
		struct entry *e = find_or_add(f, norm);
		if (!e)
			break;
		e->present = true;
		e->permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "permanent"));
		cJSON *s;
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(h, "sessions"))
		{
			if (cJSON_IsString(s))
				add_session(e, s->valuestring);
		}
	}
	if (!root)
		fw_be_note(&f->be, "notice", NULL, "failed",
			   "the approval table (" TABLE_FILE ") is not valid JSON; starting empty");
	cJSON_Delete(root);
}

/* ---- the queue ------------------------------------------------------ */

static struct qop *new_op(enum qkind kind, const char *host, const struct fw_actor *who)
{
	struct qop *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->kind = kind;
	if (host)
		snprintf(q->host, sizeof(q->host), "%s", host);
	q->scope = who ? who->scope : FW_SCOPE_PERMANENT;
	if (who && who->user && !(q->user = strdup(who->user))) {
		free(q);
		return NULL;
	}
	if (who && who->session && !(q->session = strdup(who->session))) {
		free(q->user);
		free(q);
		return NULL;
	}
	return q;
}

static void free_op(struct qop *q)
{
	free(q->user);
	free(q->session);
	free(q);
}

static void enqueue(struct fw *f, struct qop *q)
{
	if (f->tail)
		f->tail->next = q;
	else
		f->head = q;
	f->tail = q;
}

static void free_cur_hosts(struct fw *f)
{
	for (size_t i = 0; i < f->cur_n; i++)
		free(f->cur_hosts[i]);
	free(f->cur_hosts);
	f->cur_hosts = NULL;
	f->cur_n = 0;
}

/* The backend's completion: only recorded here; fw_step acts on it (the
 * backend may call this from inside apply). */
static void be_done(struct fw_be *be, int rc, const char *msg, const char *const *hosts,
		    size_t n)
{
	struct fw *f = be->fw;
	if (!f->cur || f->cur_done)
		return; /* a backend bug: nothing outstanding */
	f->cur_done = true;
	f->cur_rc = rc;
	snprintf(f->cur_msg, sizeof(f->cur_msg), "%s", msg ? msg : "");
	free_cur_hosts(f);
	if (n && hosts) {
		f->cur_hosts = calloc(n, sizeof(*f->cur_hosts));
		if (!f->cur_hosts) {
			f->cur_rc = rc ? rc : -ENOMEM;
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (hosts[i] && (f->cur_hosts[f->cur_n] = strdup(hosts[i])))
				f->cur_n++;
	}
}

static void complete_now(struct fw *f, int rc, const char *msg)
{
	f->cur_done = true;
	f->cur_rc = rc;
	snprintf(f->cur_msg, sizeof(f->cur_msg), "%s", msg);
	free_cur_hosts(f);
}

/* The table's hosts as a list (fw_list for backends that cannot list). */
static void list_from_table(struct fw *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->ntab; i++)
		n += f->tab[i].present;
	free_cur_hosts(f);
	f->cur_hosts = calloc(n ? n : 1, sizeof(*f->cur_hosts));
	if (!f->cur_hosts) {
		complete_now(f, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < f->ntab; i++)
		if (f->tab[i].present && (f->cur_hosts[f->cur_n] = strdup(f->tab[i].host)))
			f->cur_n++;
	f->cur_done = true;
	f->cur_rc = 0;
	snprintf(f->cur_msg, sizeof(f->cur_msg), "%s", "from the relay's table");
}

/* Session end reaching the head: drop the session's references and queue
 * a removal (ahead of the session end itself) for every host nobody needs
 * any more. Returns true when removals were queued. */
static bool expand_session_end(struct fw *f, struct qop *q)
{
	struct qop *first = NULL, *last = NULL;
	for (size_t i = 0; i < f->ntab; i++) {
		struct entry *e = &f->tab[i];
		bool had = drop_session(e, q->session);
		/* wanted once, never applied: forget it (drop_entry moves the
		 * last entry here, so look at this index again) */
		while (!referenced(e) && !e->present) {
			drop_entry(f, e);
			if (i == f->ntab)
				goto done;
			had = drop_session(e, q->session);
		}
		/* also left-overs of an earlier removal that failed */
		if (referenced(e))
			continue;
		struct fw_actor who = {.user = "relay", .session = q->session,
				       .scope = FW_SCOPE_SESSION};
		struct qop *r = new_op(Q_REMOVE, e->host, &who);
		if (!r) {
			q->rc = -ENOMEM;
			continue;
		}
		r->parent = q;
		audit(f, "remove", NULL, e->host, "relay", q->session, "session", "queued",
		      had ? "the session ended and no other approval needs it"
			  : "left over from an earlier removal that failed");
		if (last)
			last->next = r;
		else
			first = r;
		last = r;
	}
done:
	save_table(f);
	q->expanded = true;
	if (!first)
		return false;
	last->next = q; /* q is the head: the removals go in front of it */
	f->head = first;
	return true;
}

static void start_head(struct fw *f)
{
	struct qop *q = f->head;
	f->cur = q;
	f->cur_done = false;
	f->cur_rc = 0;
	f->cur_msg[0] = '\0';
	struct entry *e;
	int rc = 0;
	switch (q->kind) {
	case Q_ADD:
		e = find(f, q->host);
		if (e && e->present) {
			/* already applied: only the scope changes (no backend call) */
			add_ref(f, e, q);
			save_table(f);
			complete_now(f, 0, "already allowed");
			return;
		}
		rc = f->be.ops->apply(&f->be, FW_OP_ADD, q->host, be_done);
		break;
	case Q_REMOVE:
		e = find(f, q->host);
		if (q->parent && e && referenced(e)) {
			complete_now(f, 0, "still needed (approved again meanwhile)");
			return;
		}
		rc = f->be.ops->apply(&f->be, FW_OP_REMOVE, q->host, be_done);
		break;
	case Q_LIST:
	case Q_SEED:
		rc = f->be.ops->apply(&f->be, FW_OP_LIST, NULL, be_done);
		if (rc == -EOPNOTSUPP) {
			if (q->kind == Q_LIST)
				list_from_table(f);
			else
				complete_now(f, rc, ""); /* the table stays as loaded */
			return;
		}
		break;
	case Q_SESSION_END:
		if (!q->expanded && expand_session_end(f, q)) {
			f->cur = NULL; /* the removals are the head now */
			return;
		}
		complete_now(f, q->rc, q->rc ? q->msg : "done");
		return;
	}
	if (rc < 0 && !f->cur_done)
		complete_now(f, rc, "the backend refused the operation");
}

static const char *op_name(enum qkind k)
{
	return k == Q_ADD ? "add" : k == Q_REMOVE ? "remove" : "list";
}

/* The seed list: hosts the backend has that the table does not are kept
 * as permanent (someone approved them before or by hand); table entries the
 * backend lacks are marked absent, so the next add applies them again. */
static void reconcile(struct fw *f)
{
	for (size_t i = 0; i < f->ntab; i++)
		f->tab[i].present = false;
	for (size_t i = 0; i < f->cur_n; i++) {
		char norm[FW_HOST_MAX + 1], why[128];
		if (fw_host_normalize(f->cur_hosts[i], NULL, norm, sizeof(norm), why, sizeof(why)) < 0)
			continue;
		struct entry *e = find(f, norm);
		if (!e) {
			e = find_or_add(f, norm);
			if (!e)
				return;
			e->permanent = true;
		}
		e->present = true;
	}
	save_table(f);
}

/* The start-up list failed: the firewall is unreachable or refuses us,
 * which a person should hear about before the first approval fails. */
static void note_seed_failure(struct fw *f, int rc, const char *msg)
{
	audit(f, "failed", "list", NULL, "relay", NULL, NULL, errno_name(rc), msg);
	if (f->log) {
		char line[700];
		snprintf(line, sizeof(line), "firewall %s: cannot list the allowed hosts at start: %s",
			 f->be.ops->name, msg);
		f->log(f->log_data, line);
	}
}

static void finish_cur(struct fw *f)
{
	struct qop *q = f->cur;
	f->head = q->next;
	if (!f->head)
		f->tail = NULL;
	f->cur = NULL;
	int rc = f->cur_rc;
	const char *msg = f->cur_msg;
	const char *scope = q->session ? scope_name(q->scope) : "permanent";
	struct entry *e;

	switch (q->kind) {
	case Q_ADD:
		if (rc == 0 && (e = find_or_add(f, q->host)) != NULL) {
			e->present = true;
			add_ref(f, e, q);
			save_table(f);
		}
		audit(f, rc ? "failed" : "applied", "add", q->host, q->user, q->session, scope,
		      errno_name(rc), msg);
		if (q->done)
			q->done(q->data, rc, msg);
		break;
	case Q_REMOVE:
		if (rc == 0 && (e = find(f, q->host)) != NULL &&
		    (!q->parent || !referenced(e))) {
			drop_entry(f, e);
			save_table(f);
		}
		audit(f, rc ? "failed" : "applied", "remove", q->host, q->user, q->session, scope,
		      errno_name(rc), msg);
		if (q->parent && rc && !q->parent->rc) {
			q->parent->rc = rc;
			snprintf(q->parent->msg, sizeof(q->parent->msg), "%.60s: %.180s", q->host, msg);
		}
		if (q->done)
			q->done(q->data, rc, msg);
		break;
	case Q_LIST:
		if (q->list_cb)
			q->list_cb(q->data, rc, (const char *const *)f->cur_hosts, rc ? 0 : f->cur_n,
				   msg);
		break;
	case Q_SEED:
		if (rc == 0)
			reconcile(f);
		else if (rc != -EOPNOTSUPP)
			note_seed_failure(f, rc, msg);
		break;
	case Q_SESSION_END:
		if (q->done)
			q->done(q->data, rc, msg);
		break;
	}
	free_cur_hosts(f);
	free_op(q);
}

/* ---- the public interface ------------------------------------------- */

static const struct fw_backend_ops *ops_for(enum fw_backend_kind k)
{
	switch (k) {
	case FW_BACKEND_LOG:
		return &fw_backend_log;
	case FW_BACKEND_COMMAND:
		return &fw_backend_command;
	case FW_BACKEND_OPNSENSE:
		return &fw_backend_opnsense;
	case FW_BACKEND_NFTABLES:
#ifdef FW_HAVE_NFT
		return &fw_backend_nft;
#else
		return NULL;
#endif
	}
	return NULL;
}

int fw_new(const struct fw_opts *o, struct fw **out, char *err, size_t errlen)
{
	*out = NULL;
	set_err(err, errlen, "%s", "");
	const struct fw_backend_ops *ops = o ? ops_for(o->kind) : NULL;
	if (!ops) {
		set_err(err, errlen, "firewall: unknown or unavailable backend");
		return -EINVAL;
	}
	struct fw *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->be.ops = ops;
	f->be.fw = f;
	f->log = o->log;
	f->log_data = o->log_data;

	/* One deep copy of the options: backends and the policy read it for
	 * the fw's whole life. */
	bool ok = true;
	struct fw_opts c = *o;
	c.opnsense.url = keep(f, o->opnsense.url);
	c.opnsense.key = keep(f, o->opnsense.key);
	c.opnsense.secret = keep(f, o->opnsense.secret);
	c.opnsense.alias = keep(f, o->opnsense.alias);
	c.opnsense.ca_file = keep(f, o->opnsense.ca_file);
	c.nft.nft = keep(f, o->nft.nft);
	c.nft.table = keep(f, o->nft.table);
	c.nft.sandbox_iface = keep(f, o->nft.sandbox_iface);
	c.nft.sandbox_cidr = keep(f, o->nft.sandbox_cidr);
	c.nft.resolver = keep(f, o->nft.resolver);
	c.command.add = keep_list(f, o->command.add, &ok);
	c.command.remove = keep_list(f, o->command.remove, &ok);
	c.command.list = keep_list(f, o->command.list, &ok);
	c.state_dir = keep(f, o->state_dir);
	c.audit_path = keep(f, o->audit_path);
	c.deny = keep_list(f, o->deny, &ok);
	c.preapproved = keep_list(f, o->preapproved, &ok);
	f->deny = c.deny;
	f->state_dir = (char *)c.state_dir;
	if (!ok) {
		fw_free(f);
		return -ENOMEM;
	}
	int rc;
	if (c.state_dir) {
		if (c.state_dir[0] != '/') {
			set_err(err, errlen, "firewall: state_dir must be an absolute path");
			fw_free(f);
			return -EINVAL;
		}
		if (mkdir(c.state_dir, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			set_err(err, errlen, "firewall: cannot create %s: %s", c.state_dir,
				strerror(errno));
			fw_free(f);
			return rc;
		}
	}
	if (c.audit_path && (rc = fw_audit_open(c.audit_path, &f->audit, err, errlen)) < 0) {
		fw_free(f);
		return rc;
	}

	/* The preapproved names are checked before anything starts: a typo in
	 * the configuration must fail loudly, not be dropped. */
	struct qop *pre = NULL, **pre_tail = &pre;
	for (const char *const *p = c.preapproved; p && *p; p++) {
		char norm[FW_HOST_MAX + 1], why[256];
		if (fw_host_normalize(*p, f->deny, norm, sizeof(norm), why, sizeof(why)) < 0) {
			set_err(err, errlen, "firewall: preapproved name '%.80s': %s", *p, why);
			while (pre) {
				struct qop *n = pre->next;
				free_op(pre);
				pre = n;
			}
			fw_free(f);
			return -EINVAL;
		}
		struct fw_actor who = {.user = "relay", .scope = FW_SCOPE_PERMANENT};
		struct qop *q = new_op(Q_ADD, norm, &who);
		if (!q) {
			while (pre) {
				struct qop *n = pre->next;
				free_op(pre);
				pre = n;
			}
			fw_free(f);
			return -ENOMEM;
		}
		*pre_tail = q;
		pre_tail = &q->next;
	}

	f->opts = c;
	rc = ops->init(&f->be, &f->opts, err, errlen);
	if (rc < 0) {
		while (pre) {
			struct qop *n = pre->next;
			free_op(pre);
			pre = n;
		}
		fw_free(f);
		return rc;
	}
	load_table(f);
	struct qop *seed = new_op(Q_SEED, NULL, NULL);
	if (!seed) {
		while (pre) {
			struct qop *n = pre->next;
			free_op(pre);
			pre = n;
		}
		fw_free(f);
		return -ENOMEM;
	}
	enqueue(f, seed);
	while (pre) {
		struct qop *n = pre->next;
		pre->next = NULL;
		audit(f, "add", NULL, pre->host, "relay", NULL, "permanent", "queued",
		      "preapproved in the configuration");
		enqueue(f, pre);
		pre = n;
	}
	*out = f;
	return 0;
}

void fw_free(struct fw *f)
{
	if (!f)
		return;
	if (f->be.ops && f->be.ops->destroy)
		f->be.ops->destroy(&f->be);
	while (f->head) {
		struct qop *n = f->head->next;
		free_op(f->head);
		f->head = n;
	}
	free_cur_hosts(f);
	while (f->ntab)
		drop_entry(f, &f->tab[0]);
	free(f->tab);
	fw_audit_close(f->audit);
	for (size_t i = 0; i < f->nkept; i++) {
		/* the API secret is among these: wiped, not just freed */
		volatile char *p = f->kept[i];
		size_t n = strlen(f->kept[i]);
		while (n--)
			*p++ = 0;
		free(f->kept[i]);
	}
	free(f->kept);
	free(f);
}

static int check_actor(const struct fw_actor *who, char *err, size_t errlen)
{
	if (who && who->scope == FW_SCOPE_SESSION && (!who->session || !who->session[0])) {
		set_err(err, errlen, "a session-scoped approval needs a session id");
		return -EINVAL;
	}
	return 0;
}

/* A removal skips the configured deny list: a name denied after it was
 * approved must still be removable (the built-in deny names could never
 * be added at all). */
static int queue_change(struct fw *f, enum qkind kind, const char *host,
			const struct fw_actor *who, fw_done_cb cb, void *data, char *err,
			size_t errlen)
{
	char norm[FW_HOST_MAX + 1], why[256];
	const char *user = who && who->user ? who->user : "relay";
	const char *session = who ? who->session : NULL;
	const char *scope = who ? scope_name(who->scope) : "permanent";
	set_err(err, errlen, "%s", "");
	int rc = check_actor(who, err, errlen);
	if (rc < 0)
		return rc;
	if (fw_host_normalize(host, kind == Q_ADD ? f->deny : NULL, norm, sizeof(norm), why, sizeof(why)) < 0) {
		char shown[200];
		/* the raw text as given (cJSON escapes control bytes), capped */
		snprintf(shown, sizeof(shown), "%.199s", host ? host : "");
		audit(f, "refused", op_name(kind), shown, user, session, scope, "refused", why);
		set_err(err, errlen, "%s", why);
		return -EINVAL;
	}
	struct qop *q = new_op(kind, norm, who);
	if (!q)
		return -ENOMEM;
	q->done = cb;
	q->data = data;
	audit(f, kind == Q_ADD ? "add" : "remove", NULL, norm, user, session, scope, "queued",
	      NULL);
	enqueue(f, q);
	return 0;
}

int fw_add(struct fw *f, const char *host, const struct fw_actor *who, fw_done_cb cb,
	   void *data, char *err, size_t errlen)
{
	return queue_change(f, Q_ADD, host, who, cb, data, err, errlen);
}

int fw_remove(struct fw *f, const char *host, const struct fw_actor *who, fw_done_cb cb,
	      void *data, char *err, size_t errlen)
{
	return queue_change(f, Q_REMOVE, host, who, cb, data, err, errlen);
}

int fw_list(struct fw *f, fw_list_cb cb, void *data)
{
	struct qop *q = new_op(Q_LIST, NULL, NULL);
	if (!q)
		return -ENOMEM;
	q->list_cb = cb;
	q->data = data;
	enqueue(f, q);
	return 0;
}

int fw_deny(struct fw *f, const char *host, const struct fw_actor *who, const char *reason)
{
	char norm[FW_HOST_MAX + 1], why[256], shown[FW_HOST_MAX + 1];
	if (fw_host_normalize(host, NULL, norm, sizeof(norm), why, sizeof(why)) == 0)
		snprintf(shown, sizeof(shown), "%s", norm);
	else
		snprintf(shown, sizeof(shown), "%.200s", host ? host : "");
	audit(f, "deny", NULL, shown, who && who->user ? who->user : "relay",
	      who ? who->session : NULL, who ? scope_name(who->scope) : NULL, "denied", reason);
	return 0;
}

int fw_session_ended(struct fw *f, const char *session, fw_done_cb cb, void *data)
{
	if (!session || !session[0])
		return -EINVAL;
	struct fw_actor who = {.user = "relay", .session = session, .scope = FW_SCOPE_SESSION};
	struct qop *q = new_op(Q_SESSION_END, NULL, &who);
	if (!q)
		return -ENOMEM;
	q->done = cb;
	q->data = data;
	enqueue(f, q);
	return 0;
}

int fw_is_allowed(const struct fw *f, const char *host)
{
	char norm[FW_HOST_MAX + 1], why[64];
	if (fw_host_normalize(host, f->deny, norm, sizeof(norm), why, sizeof(why)) < 0)
		return 0;
	const struct entry *e = find(f, norm);
	return e && e->present;
}

size_t fw_poll(struct fw *f, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	*deadline_ms = UINT64_MAX;
	/* queued work not started yet, or a result not handed out yet */
	if ((f->head && !f->cur) || (f->cur && f->cur_done))
		*deadline_ms = fw_now_ms();
	if (max > FW_POLL_FDS)
		max = FW_POLL_FDS;
	return f->be.ops->poll(&f->be, fds, max, deadline_ms);
}

void fw_step(struct fw *f)
{
	if (f->in_step)
		return; /* called again from one of our callbacks */
	f->in_step = true;
	f->be.ops->step(&f->be);
	for (;;) {
		if (f->cur && f->cur_done) {
			finish_cur(f);
			continue;
		}
		if (f->cur || !f->head)
			break;
		start_head(f);
	}
	f->in_step = false;
}

const char *fw_backend_name(const struct fw *f)
{
	return f->be.ops->name;
}
