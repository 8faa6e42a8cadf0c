/* fw_opnsense.c — the OPNsense backend: hostnames in one Host(s) alias,
 * through the alias API, following /work/shared/reference/opnsense.md
 * ("Client: add or remove host H idempotently"):
 *
 *   get_alias_u_u_i_d/<alias>  → uuid (cached; [] means no such alias)
 *   get_item/<uuid>            → content map; name and type checked
 *   set_item/<uuid>            {"alias":{"content":"a\nb"}} → "saved"
 *   reconfigure                {} → "ok" (the long timeout)
 *
 * Non-blocking: libcurl's multi interface, its sockets and timer exposed
 * through poll (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); one request at a
 * time, one job at a time (the core is the one writer; OPNsense has no
 * compare-and-swap, so nothing else may write this alias).
 *
 * A job is: read, decide, write if needed, apply if anything is unapplied.
 * An "apply pending" flag file (state_dir/opnsense-<alias>.apply-pending)
 * is written before set_item and removed after reconfigure answered ok:
 * after a crash in between, the first job of the next run (the core's
 * start-up list) finds the flag and applies. Writing it before the save,
 * not after, costs at worst one needless reconfigure and never misses one.
 *
 * Transport failures are retried (three times, with backoff) starting
 * again from the read, since a lost answer may hide a completed write.
 * HTTP errors, validation failures and malformed JSON are not retried:
 * they need a person. The key and secret travel only in libcurl's Basic
 * auth options, never in a URL or a message.
 */
#include "fw_backend.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BODY (16u << 20) /* get_item lists every alias: can be large */
#define MAX_SOCKS 8
#define RETRIES 3
#define BACKOFF_MS 500

enum st {
	ST_IDLE,
	ST_UUID,
	ST_READ,
	ST_WRITE,
	ST_APPLY,
	ST_BACKOFF,
};

struct sock {
	curl_socket_t fd;
	int what; /* CURL_POLL_IN / OUT / INOUT */
};

struct opn {
	const struct fw_opnsense_opts *o;
	struct fw_be *be;
	char base[1024];      /* url without trailing '/' */
	char flag_path[4200]; /* state_dir/opnsense-<alias>.apply-pending */
	char state_dir[4096];
	unsigned timeout_s, apply_timeout_s;

	CURLM *multi;
	struct sock socks[MAX_SOCKS];
	size_t nsocks;
	uint64_t timer; /* libcurl's timeout, absolute; UINT64_MAX none */

	/* the request in flight */
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	size_t body_len;
	bool body_overflow;
	char curl_err[CURL_ERROR_SIZE];
	const char *what; /* endpoint name for messages */

	char uuid[80];
	bool pending;   /* the flag file exists */
	bool repairing; /* the flag was found at start */

	/* the job */
	bool busy;
	enum st st;
	enum fw_op op;
	char host[FW_HOST_MAX + 1];
	fw_be_done_fn done;
	int retries;
	bool uuid_retried;
	bool wrote;        /* this job saved a change */
	bool maybe_wrote;  /* a write's answer was lost: it may have saved */
	bool flag_before;  /* the flag was set before this job's write */
	uint64_t backoff_until;
	char **hosts; /* the alias's selected entries, from the last read */
	size_t nhosts;
};

static void free_hosts(struct opn *s)
{
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	s->hosts = NULL;
	s->nhosts = 0;
}

/* Text from the server, made safe for a one-line message. */
static void clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < len; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? ' ' : src[i];
	dst[i] = '\0';
}

/* ---- the flag file -------------------------------------------------- */

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int set_flag(struct opn *s)
{
	if (s->pending)
		return 0;
	int fd = open(s->flag_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	static const char text[] = "a change was saved on the firewall and not applied yet\n";
	int ok = write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1) && fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlink(s->flag_path);
		return -EIO;
	}
	sync_dir(s->state_dir);
	s->pending = true;
	return 0;
}

static void clear_flag(struct opn *s)
{
	if (!s->pending)
		return;
	unlink(s->flag_path);
	sync_dir(s->state_dir);
	s->pending = false;
}

/* ---- libcurl plumbing ----------------------------------------------- */

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)e;
	(void)socketp;
	struct opn *s = userp;
	size_t i = 0;
	while (i < s->nsocks && s->socks[i].fd != fd)
		i++;
	if (what == CURL_POLL_REMOVE) {
		if (i < s->nsocks)
			s->socks[i] = s->socks[--s->nsocks];
		return 0;
	}
	if (i == s->nsocks) {
		if (s->nsocks == MAX_SOCKS)
			return -1; /* cannot happen with one request at a time */
		s->nsocks++;
	}
	s->socks[i].fd = fd;
	s->socks[i].what = what;
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	struct opn *s = userp;
	s->timer = timeout_ms < 0 ? UINT64_MAX : fw_now_ms() + (uint64_t)timeout_ms;
	return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
	struct opn *s = userp;
	size_t len = size * n;
	if (s->body_len + len > MAX_BODY) {
		s->body_overflow = true;
		return 0; /* aborts the transfer */
	}
	char *nb = realloc(s->body, s->body_len + len + 1);
	if (!nb)
		return 0;
	s->body = nb;
	memcpy(s->body + s->body_len, data, len);
	s->body_len += len;
	s->body[s->body_len] = '\0';
	return len;
}

static void end_request(struct opn *s)
{
	if (s->easy) {
		curl_multi_remove_handle(s->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	free(s->body);
	s->body = NULL;
	s->body_len = 0;
	s->body_overflow = false;
}

static void fail(struct opn *s, int rc, const char *fmt, ...);

/* Starts one request: GET when json is NULL, else a POST of json. */
static void request(struct opn *s, const char *what, const char *path, const char *json,
		    unsigned timeout_s)
{
	char url[1400];
	end_request(s); /* the previous request's handle and body */
	snprintf(url, sizeof(url), "%s/api/firewall/alias/%s", s->base, path);
	s->what = what;
	s->curl_err[0] = '\0';
	CURL *e = curl_easy_init();
	if (!e) {
		fail(s, -ENOMEM, "cannot create an HTTP request");
		return;
	}
	s->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(e, CURLOPT_USERNAME, s->o->key);
	curl_easy_setopt(e, CURLOPT_PASSWORD, s->o->secret);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(s->timeout_s < 15 ? s->timeout_s : 15) * 1000L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	if (s->o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, s->o->ca_file);
	if (s->o->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	s->hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (json) {
		/* Never an empty body with this type: OPNsense answers 400. */
		s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, json);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
	if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
		fail(s, -ENOMEM, "cannot start an HTTP request");
}

/* ---- the job -------------------------------------------------------- */

static void finish(struct opn *s, int rc, const char *msg, const char *const *hosts, size_t n)
{
	end_request(s);
	s->busy = false;
	s->st = ST_IDLE;
	fw_be_done_fn done = s->done;
	s->done = NULL;
	if (done)
		done(s->be, rc, msg, hosts, n);
}

static void fail(struct opn *s, int rc, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a write that did not save leaves no unapplied change behind */
	if (!s->wrote && !s->maybe_wrote && !s->flag_before && s->st == ST_WRITE)
		clear_flag(s);
	finish(s, rc, msg, NULL, 0);
}

static void read_item(struct opn *s)
{
	char path[200];
	snprintf(path, sizeof(path), "get_item/%s", s->uuid);
	s->st = ST_READ;
	request(s, "get_item", path, NULL, s->timeout_s);
}

static void lookup_uuid(struct opn *s)
{
	char path[200];
	snprintf(path, sizeof(path), "get_alias_u_u_i_d/%s", s->o->alias);
	s->st = ST_UUID;
	request(s, "get_alias_u_u_i_d", path, NULL, s->timeout_s);
}

static void begin(struct opn *s)
{
	if (s->uuid[0])
		read_item(s);
	else
		lookup_uuid(s);
}

static void apply(struct opn *s)
{
	s->st = ST_APPLY;
	request(s, "reconfigure", "reconfigure", "{}", s->apply_timeout_s);
}

/* A host compared the way DNS does: case-insensitively, one trailing dot
 * ignored (OPNsense stores content verbatim, so a hand-made entry may
 * differ from our normalised form only in case). */
static bool same_host(const char *entry, const char *host)
{
	size_t el = strlen(entry), hl = strlen(host);
	if (el && entry[el - 1] == '.')
		el--;
	return el == hl && strncasecmp(entry, host, hl) == 0;
}

static bool selected(const cJSON *item)
{
	const cJSON *sel = cJSON_GetObjectItemCaseSensitive(item, "selected");
	if (cJSON_IsNumber(sel))
		return sel->valuedouble == 1;
	if (cJSON_IsString(sel))
		return strcmp(sel->valuestring, "1") == 0;
	return cJSON_IsTrue(sel);
}

static void write_content(struct opn *s)
{
	/* the new list: the current one in its order, host appended or dropped */
	size_t total = 1;
	for (size_t i = 0; i < s->nhosts; i++)
		total += strlen(s->hosts[i]) + 1;
	total += strlen(s->host) + 1;
	char *joined = malloc(total), *p = joined;
	if (!joined) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	*p = '\0';
	for (size_t i = 0; i < s->nhosts; i++) {
		if (s->op == FW_OP_REMOVE && same_host(s->hosts[i], s->host))
			continue;
		p += sprintf(p, "%s%s", p == joined ? "" : "\n", s->hosts[i]);
	}
	if (s->op == FW_OP_ADD)
		p += sprintf(p, "%s%s", p == joined ? "" : "\n", s->host);
	cJSON *root = cJSON_CreateObject();
	cJSON *alias = cJSON_AddObjectToObject(root, "alias");
	cJSON_AddStringToObject(alias, "content", joined);
	free(joined);
	char *json = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!json) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	s->flag_before = s->pending;
	s->st = ST_WRITE;
	int rc = set_flag(s);
	if (rc < 0) {
		free(json);
		fail(s, rc, "cannot write the apply-pending flag %s: %s", s->flag_path,
		     strerror(-rc));
		return;
	}
	char path[200];
	snprintf(path, sizeof(path), "set_item/%s", s->uuid);
	request(s, "set_item", path, json, s->timeout_s);
	free(json);
}

/* After a read: decide whether to write, apply, or answer. */
static void decide(struct opn *s, const cJSON *content)
{
	bool present = false;
	for (size_t i = 0; i < s->nhosts; i++)
		if (same_host(s->hosts[i], s->host))
			present = true;
	if (s->op == FW_OP_ADD && !present) {
		/* an unselected entry of the map is another alias's name: our
		 * host would be read as a nested alias */
		const cJSON *it;
		cJSON_ArrayForEach(it, content)
		{
			if (it->string && !selected(it) && same_host(it->string, s->host)) {
				fail(s, -EEXIST,
				     "'%s' is also the name of an alias on the firewall; it would be "
				     "read as a nested alias, not a hostname",
				     s->host);
				return;
			}
		}
	}
	bool need_write = (s->op == FW_OP_ADD && !present) || (s->op == FW_OP_REMOVE && present);
	if (need_write) {
		write_content(s);
		return;
	}
	if (s->pending) {
		apply(s);
		return;
	}
	end_request(s);
	if (s->op == FW_OP_LIST)
		finish(s, 0, "listed", (const char *const *)s->hosts, s->nhosts);
	else
		finish(s, 0, s->op == FW_OP_ADD ? "already present" : "not present", NULL, 0);
}

static void on_uuid(struct opn *s, cJSON *j)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "uuid");
	if (cJSON_IsArray(j)) {
		fail(s, -ENOENT, "the alias '%s' does not exist on the firewall (create it as a "
				 "Host(s) alias)", s->o->alias);
		return;
	}
	if (!cJSON_IsString(u) || !u->valuestring[0] || strlen(u->valuestring) >= sizeof(s->uuid) ||
	    strspn(u->valuestring, "0123456789abcdefABCDEF-_") != strlen(u->valuestring)) {
		fail(s, -EBADMSG, "unexpected answer to get_alias_u_u_i_d (no uuid)");
		return;
	}
	snprintf(s->uuid, sizeof(s->uuid), "%s", u->valuestring);
	end_request(s);
	read_item(s);
}

static void on_read(struct opn *s, cJSON *j)
{
	const cJSON *alias = cJSON_GetObjectItemCaseSensitive(j, "alias");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(alias, "name");
	if (!cJSON_IsObject(alias)) {
		fail(s, -EBADMSG, "unexpected answer to get_item (no alias object)");
		return;
	}
	if (!cJSON_IsString(name) || strcmp(name->valuestring, s->o->alias) != 0) {
		/* 26.7+ answers an unknown uuid with a nameless record: the
		 * cached uuid is stale (alias deleted and re-created) */
		if (!s->uuid_retried) {
			s->uuid_retried = true;
			s->uuid[0] = '\0';
			end_request(s);
			lookup_uuid(s);
			return;
		}
		fail(s, -ENOENT, "the alias '%s' vanished while reading it", s->o->alias);
		return;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(alias, "type");
	bool host_type = cJSON_IsString(type) ? strcmp(type->valuestring, "host") == 0
					      : selected(cJSON_GetObjectItemCaseSensitive(type, "host"));
	if (!host_type) {
		fail(s, -EINVAL, "the alias '%s' is not of type Host(s)", s->o->alias);
		return;
	}
	const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(alias, "enabled");
	if (s->op == FW_OP_ADD && cJSON_IsString(enabled) && strcmp(enabled->valuestring, "0") == 0) {
		/* a disabled alias empties its pf table: the approval would be
		 * saved and do nothing */
		fail(s, -EINVAL, "the alias '%s' is disabled on the firewall", s->o->alias);
		return;
	}
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(alias, "content");
	if (!cJSON_IsObject(content) && !cJSON_IsArray(content)) {
		fail(s, -EBADMSG, "unexpected answer to get_item (content is not a map)");
		return;
	}
	free_hosts(s);
	size_t n = (size_t)cJSON_GetArraySize(content);
	s->hosts = calloc(n ? n : 1, sizeof(*s->hosts));
	if (!s->hosts) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, content)
	{
		/* the empty content is the key "" */
		if (it->string && it->string[0] && selected(it) &&
		    (s->hosts[s->nhosts] = strdup(it->string)))
			s->nhosts++;
	}
	decide(s, content);
}

/* set_item's validation messages (a string, or an array of strings per
 * field), joined for the approver. */
static void validations(const cJSON *v, char *buf, size_t len)
{
	buf[0] = '\0';
	size_t off = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, v)
	{
		const cJSON *m;
		if (cJSON_IsString(f)) {
			char c[300];
			clean(c, sizeof(c), f->valuestring);
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s: %s",
						off ? "; " : "", f->string ? f->string : "?", c);
		} else {
			cJSON_ArrayForEach(m, f)
			{
				if (!cJSON_IsString(m))
					continue;
				char c[300];
				clean(c, sizeof(c), m->valuestring);
				off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
							"%s%s: %s", off ? "; " : "",
							f->string ? f->string : "?", c);
			}
		}
		if (off >= len)
			break;
	}
}

static void on_write(struct opn *s, cJSON *j)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
	if (cJSON_IsString(r) && strcmp(r->valuestring, "saved") == 0) {
		s->wrote = true;
		end_request(s);
		apply(s);
		return;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "validations");
	bool name_only = v && cJSON_GetObjectItemCaseSensitive(v, "alias.name") &&
			 !cJSON_GetObjectItemCaseSensitive(v, "alias.content");
	if ((!v || name_only) && !s->uuid_retried) {
		/* a failed save without content complaints: the uuid went stale
		 * (the reference's upsert path); look it up once more */
		s->uuid_retried = true;
		s->uuid[0] = '\0';
		if (!s->flag_before)
			clear_flag(s);
		end_request(s);
		lookup_uuid(s);
		return;
	}
	char msg[500];
	if (v) {
		validations(v, msg, sizeof(msg));
		fail(s, -EINVAL, "the firewall refused the change: %s", msg);
	} else {
		fail(s, -EPROTO, "the firewall did not save the change (result \"%s\")",
		     cJSON_IsString(r) ? r->valuestring : "?");
	}
}

static void on_apply(struct opn *s, cJSON *j)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "ok") != 0) {
		char c[100];
		clean(c, sizeof(c), cJSON_IsString(st) ? st->valuestring : "?");
		fail(s, -EIO, "reconfigure did not answer ok (status \"%s\"); the change is saved "
			      "but not applied, the apply is repeated with the next change",
		     c);
		return;
	}
	clear_flag(s);
	if (s->repairing) {
		s->repairing = false;
		fw_be_note(s->be, "applied", NULL, "ok",
			   "a change saved but not applied before a restart was applied now");
	}
	end_request(s);
	if (s->op == FW_OP_LIST)
		finish(s, 0, "listed", (const char *const *)s->hosts, s->nhosts);
	else if (s->wrote)
		finish(s, 0, s->op == FW_OP_ADD ? "added and applied" : "removed and applied", NULL,
		       0);
	else
		finish(s, 0,
		       s->op == FW_OP_ADD ? "already present; a pending apply was completed"
					  : "not present; a pending apply was completed",
		       NULL, 0);
}

static bool transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

static bool tls_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

static void retry_or_fail(struct opn *s, int rc, const char *why)
{
	if (s->st == ST_WRITE)
		s->maybe_wrote = true;
	if (s->retries < RETRIES) {
		s->backoff_until = fw_now_ms() + ((uint64_t)BACKOFF_MS << s->retries);
		s->retries++;
		end_request(s);
		s->st = ST_BACKOFF;
		return;
	}
	fail(s, rc, "%s (after %d retries)", why, RETRIES);
}

/* An HTTP error's detail: OPNsense's errorMessage or message field. */
static void http_detail(const char *body, char *buf, size_t len)
{
	buf[0] = '\0';
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "errorMessage");
	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(j, "message");
	if (cJSON_IsString(m))
		clean(buf, len, m->valuestring);
	cJSON_Delete(j);
}

static void on_done(struct opn *s, CURLcode cc)
{
	long code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	char cerr[CURL_ERROR_SIZE + 1];
	clean(cerr, sizeof(cerr), s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
	if (cc != CURLE_OK) {
		if (tls_error(cc)) {
			fail(s, -EPROTO, "TLS to %s failed: %s (set the CA file, or insecure mode "
					 "explicitly)", s->base, cerr);
		} else if (s->st == ST_APPLY && cc == CURLE_OPERATION_TIMEDOUT) {
			/* never blindly again: it may still be running there */
			fail(s, -ETIMEDOUT, "reconfigure did not answer within %u s; the change is "
					    "saved, its apply is repeated with the next change",
			     s->apply_timeout_s);
		} else if (s->body_overflow) {
			fail(s, -EBADMSG, "%s: the answer is larger than %u bytes", s->what, MAX_BODY);
		} else if (transient(cc)) {
			char why[CURL_ERROR_SIZE + 64];
			snprintf(why, sizeof(why), "%s: %s", s->what, cerr);
			retry_or_fail(s, cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
					 : cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
									: -EIO,
				      why);
		} else {
			fail(s, -EIO, "%s: %s", s->what, cerr);
		}
		return;
	}
	char detail[300];
	if (code != 200) {
		http_detail(s->body, detail, sizeof(detail));
		const char *sep = detail[0] ? ": " : "";
		if (code == 401)
			fail(s, -EACCES, "%s: the firewall refused the API key and secret (HTTP 401%s%s)",
			     s->what, sep, detail);
		else if (code == 403)
			fail(s, -EPERM, "%s: the API user lacks the privilege (HTTP 403%s%s); it needs "
					"\"Firewall: Alias: Edit\"", s->what, sep, detail);
		else if (code == 404)
			fail(s, -ENOENT, "%s: endpoint not found (HTTP 404): is %s an OPNsense?",
			     s->what, s->base);
		else if (code == 502 || code == 503 || code == 504) {
			char why[400];
			snprintf(why, sizeof(why), "%s: HTTP %ld%s%s", s->what, code, sep, detail);
			retry_or_fail(s, -EIO, why);
		} else
			fail(s, -EIO, "%s: HTTP %ld%s%s", s->what, code, sep, detail);
		return;
	}
	cJSON *j = s->body ? cJSON_Parse(s->body) : NULL;
	if (!j || (!cJSON_IsObject(j) && !cJSON_IsArray(j))) {
		cJSON_Delete(j);
		fail(s, -EBADMSG, "%s: the firewall's answer is not valid JSON", s->what);
		return;
	}
	switch (s->st) {
	case ST_UUID:
		on_uuid(s, j);
		break;
	case ST_READ:
		on_read(s, j);
		break;
	case ST_WRITE:
		on_write(s, j);
		break;
	case ST_APPLY:
		on_apply(s, j);
		break;
	default:
		break;
	}
	cJSON_Delete(j);
}

/* ---- the backend ops ------------------------------------------------ */

static int valid_alias_name(const char *n)
{
	if (!n || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
		return 0;
	size_t i = 1;
	for (; n[i]; i++)
		if (!(isalnum((unsigned char)n[i]) || n[i] == '_'))
			return 0;
	return i <= 32;
}

static int opn_init(struct fw_be *be, const struct fw_opts *o, char *err, size_t errlen)
{
	const struct fw_opnsense_opts *c = &o->opnsense;
	if (!c->url || strncasecmp(c->url, "https://", 8) != 0 || !c->url[8]) {
		snprintf(err, errlen, "opnsense: the URL must start with https://");
		return -EINVAL;
	}
	for (const char *p = c->url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '@') {
			snprintf(err, errlen, "opnsense: the URL has a space, control character or "
					      "user info");
			return -EINVAL;
		}
	if (!c->key || !c->key[0] || !c->secret || !c->secret[0]) {
		snprintf(err, errlen, "opnsense: the API key and secret are required");
		return -EINVAL;
	}
	if (!valid_alias_name(c->alias)) {
		snprintf(err, errlen, "opnsense: the alias name must match [A-Za-z_][A-Za-z0-9_]{0,31}");
		return -EINVAL;
	}
	if (!o->state_dir) {
		snprintf(err, errlen, "opnsense: a state directory is required (the apply-pending "
				      "flag lives there)");
		return -EINVAL;
	}
	if (c->ca_file && access(c->ca_file, R_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "opnsense: cannot read the CA file %s: %s", c->ca_file,
			 strerror(e));
		return -e;
	}
	struct opn *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	be->priv = s;
	s->be = be;
	s->o = c;
	s->timer = UINT64_MAX;
	s->timeout_s = c->timeout_s ? c->timeout_s : 30;
	s->apply_timeout_s = c->apply_timeout_s ? c->apply_timeout_s : 300;
	snprintf(s->base, sizeof(s->base), "%s", c->url);
	size_t bl = strlen(s->base);
	while (bl > 8 && s->base[bl - 1] == '/')
		s->base[--bl] = '\0';
	snprintf(s->state_dir, sizeof(s->state_dir), "%s", o->state_dir);
	snprintf(s->flag_path, sizeof(s->flag_path), "%s/opnsense-%s.apply-pending", o->state_dir,
		 c->alias);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(s->multi = curl_multi_init())) {
		snprintf(err, errlen, "opnsense: cannot initialise libcurl");
		return -ENOMEM;
	}
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	if (access(s->flag_path, F_OK) == 0) {
		s->pending = s->repairing = true;
		fw_be_note(be, "notice", NULL, "pending",
			   "a change was saved on the firewall but not applied before the relay "
			   "stopped; it is applied now");
	}
	if (c->insecure) {
		char m[1200];
		snprintf(m, sizeof(m), "TLS verification for %s is disabled (insecure mode)", s->base);
		fw_be_note(be, "notice", NULL, "insecure", m);
	}
	return 0;
}

static void opn_destroy(struct fw_be *be)
{
	struct opn *s = be->priv;
	if (!s)
		return;
	end_request(s);
	free_hosts(s);
	if (s->multi) {
		curl_multi_cleanup(s->multi);
		curl_global_cleanup();
	}
	free(s);
	be->priv = NULL;
}

static int opn_apply(struct fw_be *be, enum fw_op op, const char *host, fw_be_done_fn done)
{
	struct opn *s = be->priv;
	if (s->busy)
		return -EBUSY; /* the core never does this */
	s->busy = true;
	s->op = op;
	s->done = done;
	snprintf(s->host, sizeof(s->host), "%s", host ? host : "");
	s->retries = 0;
	s->uuid_retried = false;
	s->wrote = false;
	s->maybe_wrote = false;
	s->flag_before = false;
	begin(s);
	return 0;
}

static size_t opn_poll(struct fw_be *be, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	struct opn *s = be->priv;
	size_t n = 0;
	for (size_t i = 0; i < s->nsocks; i++) {
		if (n == max) {
			*deadline_ms = 0;
			break;
		}
		fds[n].fd = s->socks[i].fd;
		fds[n].events = (short)(((s->socks[i].what & CURL_POLL_IN) ? POLLIN : 0) |
					((s->socks[i].what & CURL_POLL_OUT) ? POLLOUT : 0));
		fds[n].revents = 0;
		n++;
	}
	if (s->timer < *deadline_ms)
		*deadline_ms = s->timer;
	if (s->st == ST_BACKOFF && s->backoff_until < *deadline_ms)
		*deadline_ms = s->backoff_until;
	return n;
}

static void opn_step(struct fw_be *be)
{
	struct opn *s = be->priv;
	int running = 0;
	/* Which of our sockets are ready: fw_step does not say, so ask poll(2)
	 * without waiting. */
	struct pollfd pf[MAX_SOCKS];
	size_t n = s->nsocks;
	for (size_t i = 0; i < n; i++) {
		pf[i].fd = s->socks[i].fd;
		pf[i].events = (short)(((s->socks[i].what & CURL_POLL_IN) ? POLLIN : 0) |
				       ((s->socks[i].what & CURL_POLL_OUT) ? POLLOUT : 0));
		pf[i].revents = 0;
	}
	if (n && poll(pf, n, 0) > 0) {
		for (size_t i = 0; i < n; i++) {
			int ev = 0;
			if (pf[i].revents & (POLLIN | POLLHUP))
				ev |= CURL_CSELECT_IN;
			if (pf[i].revents & POLLOUT)
				ev |= CURL_CSELECT_OUT;
			if (pf[i].revents & (POLLERR | POLLNVAL))
				ev |= CURL_CSELECT_ERR;
			if (ev)
				curl_multi_socket_action(s->multi, pf[i].fd, ev, &running);
		}
	}
	if (s->timer <= fw_now_ms()) {
		s->timer = UINT64_MAX;
		curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy)
			on_done(s, m->data.result);
	}
	if (s->st == ST_BACKOFF && fw_now_ms() >= s->backoff_until)
		begin(s);
}

const struct fw_backend_ops fw_backend_opnsense = {
	.name = "opnsense",
	.init = opn_init,
	.destroy = opn_destroy,
	.apply = opn_apply,
	.poll = opn_poll,
	.step = opn_step,
};
