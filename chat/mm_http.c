/* mm_http.c — curl multi with socket and timer callbacks (see mm_http.h). */
#include "mm_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A response larger than this is refused (a post list is at most 1000
 * posts of 64 KiB; anything beyond is not Mattermost talking). */
#define MAX_BODY (64u << 20)

struct sock {
	curl_socket_t fd;
	int what; /* CURL_POLL_* */
};

struct mm_http_xfer {
	struct mm_http *h;
	struct mm_http_xfer *prev, *next; /* h->active, or the step's done list */
	CURL *easy;
	struct curl_slist *hdrs;
	char *req_body;
	char *buf;
	size_t len, cap;
	mm_http_cb cb;
	void *data;
	CURLcode result;
	bool done;    /* finished, waiting in mm_http_step for its callback */
	bool aborted; /* aborted while done: no callback */
	char errbuf[CURL_ERROR_SIZE];
};

struct mm_http {
	CURLM *multi;
	char *auth;    /* "Authorization: Bearer ..." */
	char *ca_file; /* NULL: curl's default */
	char *default_ca;
	bool insecure;
	long timeout_ms;
	struct sock *socks;
	size_t nsocks, capsocks;
	uint64_t deadline;
	struct mm_http_xfer *active;
	bool global_init;
};

uint64_t mm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)easy;
	(void)socketp;
	struct mm_http *h = userp;
	size_t i;
	for (i = 0; i < h->nsocks && h->socks[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < h->nsocks)
			h->socks[i] = h->socks[--h->nsocks];
		return 0;
	}
	if (i == h->nsocks) {
		if (h->nsocks == h->capsocks) {
			size_t cap = h->capsocks ? h->capsocks * 2 : 8;
			struct sock *n = realloc(h->socks, cap * sizeof(*n));
			if (!n)
				return -1;
			h->socks = n;
			h->capsocks = cap;
		}
		h->nsocks++;
	}
	h->socks[i].fd = s;
	h->socks[i].what = what;
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct mm_http *h = userp;
	h->deadline = timeout_ms < 0 ? UINT64_MAX : mm_now_ms() + (uint64_t)timeout_ms;
	return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct mm_http_xfer *x = userdata;
	size_t n = size * nmemb;
	if (x->len + n + 1 > MAX_BODY)
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *b = realloc(x->buf, cap);
		if (!b)
			return 0;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

int mm_http_new(const struct mm_http_opts *o, struct mm_http **out, char *err, size_t errlen)
{
	*out = NULL;
	struct mm_http *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->deadline = UINT64_MAX;
	h->insecure = o->insecure;
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		free(h);
		return -EIO;
	}
	h->global_init = true;
	size_t alen = strlen("Authorization: Bearer ") + strlen(o->token) + 1;
	h->auth = malloc(alen);
	h->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	h->multi = curl_multi_init();
	if (!h->auth || (o->ca_file && !h->ca_file) || !h->multi) {
		snprintf(err, errlen, "out of memory");
		mm_http_free(h);
		return -ENOMEM;
	}
	snprintf(h->auth, alen, "Authorization: Bearer %s", o->token);
	long conns = o->max_host_conns > 0 ? o->max_host_conns : 4;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);

	/* The WebSocket trusts what REST trusts: ask curl where its default
	 * bundle is rather than guessing a distribution's path. */
	CURL *probe = curl_easy_init();
	char *ca = NULL;
	if (probe && curl_easy_getinfo(probe, CURLINFO_CAINFO, &ca) == CURLE_OK && ca)
		h->default_ca = strdup(ca);
	if (probe)
		curl_easy_cleanup(probe);
	*out = h;
	return 0;
}

static void xfer_free(struct mm_http_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	free(x->req_body);
	free(x->buf);
	free(x);
}

static void active_unlink(struct mm_http *h, struct mm_http_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		h->active = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

void mm_http_free(struct mm_http *h)
{
	if (!h)
		return;
	while (h->active) {
		struct mm_http_xfer *x = h->active;
		active_unlink(h, x);
		curl_multi_remove_handle(h->multi, x->easy);
		xfer_free(x);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->auth) {
		memset(h->auth, 0, strlen(h->auth)); /* the token */
		free(h->auth);
	}
	free(h->ca_file);
	free(h->default_ca);
	free(h->socks);
	if (h->global_init)
		curl_global_cleanup();
	free(h);
}

const char *mm_http_default_ca(struct mm_http *h)
{
	return h->default_ca ? h->default_ca : "";
}

struct mm_http_xfer *mm_http_start(struct mm_http *h, const char *method, const char *url,
				   const char *body, mm_http_cb cb, void *data, int *rc)
{
	*rc = -ENOMEM;
	struct mm_http_xfer *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->h = h;
	x->cb = cb;
	x->data = data;
	x->easy = curl_easy_init();
	if (!x->easy || (body && !(x->req_body = strdup(body))))
		goto fail;
	struct curl_slist *l = curl_slist_append(NULL, h->auth);
	if (l)
		x->hdrs = l;
	if (!l || !(l = curl_slist_append(x->hdrs, "Accept: application/json")))
		goto fail;
	/* curl would wait for "100 Continue" before larger bodies. */
	if (!(l = curl_slist_append(x->hdrs, "Expect:")))
		goto fail;
	if (body && !(l = curl_slist_append(x->hdrs, "Content-Type: application/json")))
		goto fail;

	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	if (h->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	if (h->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		if (x->req_body) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)strlen(x->req_body));
		} else if (strcmp(method, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		}
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		*rc = -EIO;
		goto fail;
	}
	x->next = h->active;
	if (h->active)
		h->active->prev = x;
	h->active = x;
	*rc = 0;
	return x;
fail:
	xfer_free(x);
	return NULL;
}

void mm_http_abort(struct mm_http *h, struct mm_http_xfer *x)
{
	if (!x)
		return;
	if (x->done) {
		x->aborted = true; /* mm_http_step frees it */
		return;
	}
	active_unlink(h, x);
	curl_multi_remove_handle(h->multi, x->easy);
	xfer_free(x);
}

size_t mm_http_poll(struct mm_http *h, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < h->nsocks && n < max; i++) {
		short ev = 0;
		if (h->socks[i].what & CURL_POLL_IN)
			ev |= POLLIN;
		if (h->socks[i].what & CURL_POLL_OUT)
			ev |= POLLOUT;
		fds[n].fd = h->socks[i].fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		n++;
	}
	if (h->deadline < *deadline_ms)
		*deadline_ms = h->deadline;
	return n;
}

static long header_long(CURL *e, const char *name)
{
	struct curl_header *hh;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hh) != CURLHE_OK || !hh->value)
		return -1;
	char *end;
	long v = strtol(hh->value, &end, 10);
	return end == hh->value || v < 0 ? -1 : v;
}

static double header_double(CURL *e, const char *name)
{
	struct curl_header *hh;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hh) != CURLHE_OK || !hh->value)
		return -1;
	char *end;
	double v = strtod(hh->value, &end);
	return end == hh->value || v < 0 ? -1 : v;
}

static int curl_rc(CURLcode c, bool *unsent)
{
	*unsent = false;
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		*unsent = true;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		*unsent = true;
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void deliver(struct mm_http_xfer *x)
{
	struct mm_http_resp r = {
		.body = x->buf ? x->buf : "",
		.len = x->len,
		.rl_limit = -1,
		.rl_remaining = -1,
		.rl_reset_s = -1,
		.retry_after_s = -1,
		.error = "",
	};
	if (x->result != CURLE_OK) {
		r.rc = curl_rc(x->result, &r.unsent);
		r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
	} else {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
		r.rl_limit = header_long(x->easy, "X-RateLimit-Limit");
		r.rl_remaining = header_long(x->easy, "X-RateLimit-Remaining");
		r.rl_reset_s = header_double(x->easy, "X-RateLimit-Reset");
		/* curl parses Retry-After (seconds or an HTTP date). */
		curl_off_t ra = 0;
		if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			r.retry_after_s = (double)ra;
	}
	x->cb(x->data, &r);
}

void mm_http_step(struct mm_http *h, uint64_t now_ms)
{
	int running;
	/* Which of curl's sockets are ready: the owner's loop does not say. */
	size_t n = h->nsocks;
	if (n) {
		struct pollfd *p = calloc(n, sizeof(*p));
		if (p) {
			n = mm_http_poll(h, p, n, &(uint64_t){UINT64_MAX});
			if (poll(p, (nfds_t)n, 0) > 0) {
				for (size_t i = 0; i < n; i++) {
					int ev = 0;
					if (p[i].revents & POLLIN)
						ev |= CURL_CSELECT_IN;
					if (p[i].revents & POLLOUT)
						ev |= CURL_CSELECT_OUT;
					if (p[i].revents & (POLLERR | POLLHUP | POLLNVAL))
						ev |= CURL_CSELECT_ERR;
					if (ev)
						curl_multi_socket_action(h->multi, p[i].fd, ev,
									 &running);
				}
			}
			free(p);
		}
	}
	if (h->deadline <= now_ms) {
		h->deadline = UINT64_MAX;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}

	/* Collect first, call back after: a callback may start or abort
	 * transfers, which must not disturb curl_multi_info_read. */
	struct mm_http_xfer *done = NULL, *tail = NULL;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		struct mm_http_xfer *x = (struct mm_http_xfer *)priv;
		CURLcode res = m->data.result; /* m is invalid after remove */
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (!x)
			continue;
		active_unlink(h, x);
		x->result = res;
		x->done = true;
		if (tail)
			tail->next = x;
		else
			done = x;
		tail = x;
	}
	while (done) {
		struct mm_http_xfer *x = done;
		if (!x->aborted)
			deliver(x);
		done = x->next;
		xfer_free(x);
	}
}
