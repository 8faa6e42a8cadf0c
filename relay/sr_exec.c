/* sr_exec.c — asynchronous remote commands on exec channels (see sr_exec.h). */
#include "sr_exec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sr_exec {
	struct sr_ssh_listener lis; /* first: the listener is the job */
	struct sr_loop *loop;
	struct sr_ssh_chan *chan;
	struct sr_timer *timer;
	sr_exec_cb cb;
	void *data;
	bool done;
};

static void job_free(struct sr_exec *e)
{
	sr_ssh_driver_unlisten(&e->lis);
	if (e->timer)
		sr_timer_cancel(e->timer);
	sr_ssh_chan_close(e->chan);
	free(e);
}

static void report(struct sr_exec *e, const struct sr_exec_res *res)
{
	e->done = true;
	sr_ssh_driver_unlisten(&e->lis);
	if (e->cb)
		e->cb(e->data, res);
	job_free(e);
}

static void report_error(struct sr_exec *e, int rc, const char *msg)
{
	struct sr_exec_res res = {.rc = rc, .status = -1, .out = "", .err = "", .msg = msg};
	report(e, &res);
}

static void on_step(struct sr_ssh_listener *l)
{
	struct sr_exec *e = (struct sr_exec *)l;
	if (e->done)
		return;
	struct sr_ssh_exec_result r;
	int rc = sr_ssh_exec_result(e->chan, &r);
	if (rc == -EAGAIN)
		return;
	if (rc < 0) {
		const char *m = sr_ssh_chan_error(e->chan);
		report_error(e, rc, m && *m ? m : strerror(-rc));
		return;
	}
	struct sr_exec_res res = {
		.rc = 0,
		.status = r.exit.status,
		.out = r.out,
		.out_len = r.out_len,
		.err = r.err,
		.err_len = r.err_len,
		.msg = "",
	};
	report(e, &res);
}

static void on_detach(struct sr_ssh_listener *l)
{
	struct sr_exec *e = (struct sr_exec *)l;
	if (!e->done)
		report_error(e, -ENOTCONN, "the SSH connection was closed");
}

static void on_timeout(struct sr_timer *t, void *data)
{
	(void)t;
	struct sr_exec *e = data; /* the fired timer stays valid until job_free */
	report_error(e, -ETIMEDOUT, "the remote command took too long");
}

int sr_exec_start(struct sr_ssh_driver *d, const struct sr_argv *argv, const void *stdin_data,
		  size_t stdin_len, uint64_t timeout_ms, sr_exec_cb cb, void *data,
		  struct sr_exec **out, char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!d || sr_ssh_driver_dead(d) || !argv || !cb || (stdin_len && !stdin_data)) {
		snprintf(err, errlen, "exec: bad arguments");
		return -EINVAL;
	}
	char *line = NULL;
	int rc = sr_argv_quote(argv, &line, err, errlen);
	if (rc < 0)
		return rc;
	struct sr_exec *e = calloc(1, sizeof(*e));
	if (!e) {
		free(line);
		snprintf(err, errlen, "exec: out of memory");
		return -ENOMEM;
	}
	e->loop = sr_ssh_driver_loop(d);
	e->cb = cb;
	e->data = data;
	e->lis.on_step = on_step;
	e->lis.on_detach = on_detach;
	struct sr_ssh *ssh = sr_ssh_driver_ssh(d);
	rc = sr_ssh_exec_start(ssh, line, &e->chan);
	free(line);
	if (rc == 0 && stdin_len)
		rc = sr_ssh_chan_write(e->chan, stdin_data, stdin_len);
	if (rc == 0)
		rc = sr_ssh_chan_send_eof(e->chan);
	if (rc == 0)
		rc = sr_ssh_driver_listen(d, &e->lis);
	if (rc == 0 && timeout_ms)
		rc = sr_loop_timer(e->loop, timeout_ms, on_timeout, e, &e->timer);
	if (rc < 0) {
		const char *m = sr_ssh_error(ssh);
		snprintf(err, errlen, "exec: %s", m && *m ? m : strerror(-rc));
		job_free(e);
		return rc;
	}
	sr_ssh_driver_kick(d);
	if (out)
		*out = e;
	return 0;
}

void sr_exec_cancel(struct sr_exec *e)
{
	if (!e || e->done)
		return;
	job_free(e);
}
