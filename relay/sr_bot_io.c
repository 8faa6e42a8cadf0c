/* sr_bot_io.c — the bot's link to sessions and the firewall (see sr_bot_io.h). */
#include "sr_bot_io.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static void changed(struct sr_bot_link *l)
{
	if (l->changed)
		l->changed(l->changed_data);
}

static long io_rest(void *ctx, const char *method, const char *path, const cJSON *body, int prio,
		    const char *key, mm_bot_rest_cb cb, void *data)
{
	struct sr_bot_link *l = ctx;
	return l->rest(l->rest_ctx, method, path, body, prio, key, cb, data);
}

static int io_start(void *ctx, int argc, const char *const *argv, const char *owner,
		    mm_bot_done_cb done, void *data, char *id_out, char *err, size_t errlen)
{
	struct sr_bot_link *l = ctx;
	int rc = sr_relay_start(l->relay, argc, argv, owner, done, data, id_out, err, errlen);
	changed(l);
	return rc;
}

static int io_stop(void *ctx, const char *id, mm_bot_done_cb done, void *data, char *err,
		   size_t errlen)
{
	struct sr_bot_link *l = ctx;
	return sr_relay_stop(l->relay, id, done, data, err, errlen);
}

static int io_send(void *ctx, const char *id, const char *text)
{
	struct sr_bot_link *l = ctx;
	return sr_relay_send_text(l->relay, id, text);
}

static int io_keys(void *ctx, const char *id, const char *spec, char *err, size_t errlen)
{
	struct sr_bot_link *l = ctx;
	return sr_relay_send_keys(l->relay, id, spec, err, errlen);
}

static int io_resize(void *ctx, const char *id, unsigned cols, unsigned rows)
{
	struct sr_bot_link *l = ctx;
	return sr_relay_resize(l->relay, id, cols, rows);
}

static int io_describe(void *ctx, const char *id, char *buf, size_t len)
{
	struct sr_bot_link *l = ctx;
	struct sr_relay_info in;
	if (sr_relay_info(l->relay, id, &in) < 0)
		return -ENOENT;
	long long age = (long long)(time(NULL) - in.created);
	snprintf(buf, len, "%s, %s on %s, owner %s, %lld min, %ux%u", sr_rstate_name(in.state),
		 in.project ? in.project : "?", in.host ? in.host : "?", in.owner ? in.owner : "?",
		 age / 60, in.cols, in.rows);
	return 0;
}

static int io_check(void *ctx, const char *host, char *norm, size_t nlen, char *why, size_t wlen)
{
	struct sr_bot_link *l = ctx;
	return sr_fw_check(l->fw, host, norm, nlen, why, wlen);
}

static int io_approve(void *ctx, const char *session, const char *host, const char *user,
		      mm_bot_fw_cb done, void *data)
{
	struct sr_bot_link *l = ctx;
	int rc = sr_fw_approve(l->fw, session, host, user, done, data);
	changed(l);
	return rc;
}

static void io_deny(void *ctx, const char *session, const char *host, const char *user)
{
	struct sr_bot_link *l = ctx;
	sr_fw_deny(l->fw, session, host, user, l->deny_reason ? l->deny_reason : "denied");
	changed(l);
}

static int io_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	return getrandom(buf, n, 0) == (ssize_t)n ? 0 : -EIO;
}

void sr_bot_io_fill(struct mm_bot_io *io, struct sr_bot_link *link)
{
	*io = (struct mm_bot_io){
		.ctx = link,
		.rest = io_rest,
		.start = io_start,
		.stop = io_stop,
		.send_text = io_send,
		.send_keys = io_keys,
		.resize = io_resize,
		.describe = io_describe,
		.check_host = io_check,
		.approve = io_approve,
		.deny = io_deny,
		.random = io_random,
	};
}
