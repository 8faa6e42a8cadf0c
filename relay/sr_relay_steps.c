/* sr_relay_steps.c — the remote steps of a session's life: prepare the
 * repository, create the container, start the holder, attach; check and
 * reattach after a drop or a restart; remove. Each step is one remote
 * command on an exec channel (sr_exec); its callback starts the next. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_envwrap.h"
#include "sr_holder.h"
#include "sr_log.h"
#include "sr_relay_int.h"
#include "sr_repo.h"

#define REPO_TIMEOUT_MS (15u * 60u * 1000u)  /* a first clone can be large */
#define CREATE_TIMEOUT_MS (10u * 60u * 1000u) /* may pull the image */
#define SHORT_TIMEOUT_MS (60u * 1000u)
#define FLAP_WINDOW_MS 60000u
#define FLAP_MAX 5u
/* Claude Code renders inline on the main screen with this set, so its
 * output scrolls into history (a clean transcript) instead of being
 * redrawn in the alternate screen (DESIGN.md). Not a secret. */
static const char INLINE_VAR[] = "CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN";

/* The last non-empty line of a command's stderr (or stdout), trimmed, for
 * messages: runtimes and git put the reason there. */
static void last_line(const struct sr_exec_res *res, char *buf, size_t len)
{
	const char *t = res->err_len ? res->err : res->out;
	size_t n = res->err_len ? res->err_len : res->out_len;
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		n--;
	size_t b = n;
	while (b && t[b - 1] != '\n')
		b--;
	if (n == b)
		snprintf(buf, len, "exit status %d", res->status);
	else
		snprintf(buf, len, "%.*s", (int)(n - b), t + b);
}

/* A failure of the connection itself is the host's business (host_down
 * detaches the session or fails the start). Anything else — a timeout, a
 * channel the server refused (sshd's MaxSessions) — is this step's: judged
 * by the connection's state, not by the code. */
static int conn_failure(const struct rsess *s, const struct sr_exec_res *res)
{
	if (res->rc >= 0)
		return 0;
	struct sr_ssh_driver *d = sr_host_driver(s->h);
	return !d || sr_ssh_status(sr_ssh_driver_ssh(d)) < 0;
}

static void fail(struct rsess *s, bool cleanup, const char *fmt, const char *a, const char *b)
{
	char why[1024];
	snprintf(why, sizeof(why), fmt, a, b);
	s->cleanup = cleanup;
	rs_end(s, why);
}

static int run(struct rsess *s, enum rs_step step, const struct sr_argv *argv,
	       const void *in, size_t inlen, uint64_t timeout_ms, sr_exec_cb cb)
{
	struct sr_ssh_driver *d = rs_driver(s);
	char err[512];
	if (!d) {
		/* The host went away between steps: host_down decides. */
		return -ENOTCONN;
	}
	s->step = step;
	int rc = sr_exec_start(d, argv, in, inlen, timeout_ms, cb, s, &s->job, err, sizeof(err));
	if (rc < 0) {
		s->step = STEP_NONE;
		sr_log(SR_LOG_ERROR, "session %s: %s", s->id, err);
	}
	return rc;
}

/* ---- 1. repository -------------------------------------------------------- */

static void repo_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return;
	s->step = STEP_NONE;
	char msg[512];
	char *workdir = NULL;
	int rc = res->rc < 0 ? res->rc
			     : sr_repo_prepare_result(res->status, res->out, res->err, &workdir, msg,
						      sizeof(msg));
	if (rc < 0) {
		fail(s, false, "could not prepare %s: %s", s->project,
		     res->rc < 0 ? res->msg : msg);
		return;
	}
	char warn[512];
	if (sr_repo_prepare_warning(res->err, warn, sizeof(warn)))
		sr_log(SR_LOG_WARN, "session %s: %s", s->id, warn);
	free(s->workdir);
	s->workdir = workdir;
	rs_save(s->r);
	rs_step_create(s);
}

void rs_step_repo(struct rsess *s)
{
	const struct sr_config *c = s->r->cfg;
	char err[512] = "";
	char *url = NULL, *repo = NULL, *wt = NULL;
	struct sr_argv argv = {0};
	int rc = sr_repo_url(c->git_base_url, &s->spec, &url, err, sizeof(err));
	if (rc == 0)
		rc = sr_project_repo_path(c->repos_base, &s->spec, &repo);
	if (rc == 0 && s->worktree)
		rc = sr_project_worktree_path(c->worktrees_base, &s->spec, s->worktree, &wt);
	if (rc == 0) {
		struct sr_repo_req req = {
			.url = url,
			.repo_path = repo,
			.branch = s->spec.branch,
			.worktree_path = wt,
			.worktree_name = s->worktree,
			.fetch = c->auto_pull,
		};
		rc = sr_repo_prepare_argv(&req, &argv, err, sizeof(err));
	}
	if (rc == 0)
		rc = run(s, STEP_REPO, &argv, NULL, 0, REPO_TIMEOUT_MS, repo_done);
	free(url);
	free(repo);
	free(wt);
	sr_argv_free(&argv);
	if (rc < 0)
		fail(s, false, "could not prepare %s: %s", s->project, err[0] ? err : strerror(-rc));
}

/* ---- 2. container, 3. holder ---------------------------------------------- */

static void step_holder(struct rsess *s);

static void create_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return;
	s->step = STEP_NONE;
	if (res->rc < 0 || res->status != 0) {
		char line[512];
		last_line(res, line, sizeof(line));
		/* a timed-out run may still create it */
		fail(s, res->rc < 0, "could not create the container: %s%s",
		     res->rc < 0 ? res->msg : line, "");
		return;
	}
	step_holder(s);
}

void rs_step_create(struct rsess *s)
{
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, NULL);
	char *repo = NULL, *git_dir = NULL;
	if (s->worktree && !s->spec.name &&
	    sr_project_repo_path(s->r->cfg->repos_base, &s->spec, &repo) == 0) {
		size_t n = strlen(repo) + sizeof("/.git");
		if ((git_dir = malloc(n)))
			snprintf(git_dir, n, "%s/.git", repo);
		spec.git_dir = git_dir;
	}
	struct sr_argv argv = {0};
	char err[512] = "";
	int rc = sr_container_create_argv(&spec, &argv, err, sizeof(err));
	free(repo);
	free(git_dir);
	if (rc == 0 && argv.n == 0) {
		step_holder(s); /* runtime none: the VM is the sandbox */
		return;
	}
	if (rc == 0)
		rc = run(s, STEP_CREATE, &argv, NULL, 0, CREATE_TIMEOUT_MS, create_done);
	sr_argv_free(&argv);
	if (rc < 0)
		fail(s, false, "could not create the container: %s%s", err[0] ? err : strerror(-rc), "");
}

static void holder_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return;
	s->step = STEP_NONE;
	if (res->rc < 0 || res->status != 0) {
		char line[512];
		last_line(res, line, sizeof(line));
		fail(s, true, "could not start %s: %s", s->r->cfg->claude_command,
		     res->rc < 0 ? res->msg : line);
		return;
	}
	rs_attach(s);
}

static void step_holder(struct rsess *s)
{
	const struct sr_config *c = s->r->cfg;
	/* Forwarded variables the relay has, plus the inline switch. */
	const char **names = calloc(c->nforward_env + 2, sizeof(*names));
	struct sr_env *env = calloc(c->nforward_env + 2, sizeof(*env));
	struct sr_argv holder = {0}, inner = {0}, argv = {0};
	char *payload = NULL;
	size_t plen = 0;
	char err[512] = "";
	int rc = names && env ? 0 : -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; rc == 0 && i < c->nforward_env; i++) {
		const char *v = getenv(c->forward_env[i]);
		if (!v) {
			/* once per variable: the agent may log in another way */
			bool once = i < 64 && !(s->r->env_warned & (1ull << i));
			if (i < 64)
				s->r->env_warned |= 1ull << i;
			sr_log(once ? SR_LOG_WARN : SR_LOG_DEBUG,
			       "%s (SM_CONTAINER_ENV) is not set in the relay's environment; not forwarded",
			       c->forward_env[i]);
			continue;
		}
		names[k] = c->forward_env[i];
		env[k++] = (struct sr_env){c->forward_env[i], v};
	}
	if (rc == 0) {
		names[k] = INLINE_VAR;
		env[k++] = (struct sr_env){INLINE_VAR, "1"};
	}
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, names);
	if (rc == 0)
		rc = sr_holder_start_argv(s->id, s->cols, s->rows, sr_container_workspace(&spec),
					  (const char *const *)c->claude_argv, &holder);
	if (rc == 0)
		rc = sr_container_exec_argv(&spec, &holder, 1, &inner, err, sizeof(err));
	if (rc == 0)
		rc = sr_envwrap_argv(&inner, &argv);
	if (rc == 0)
		rc = sr_envwrap_payload(env, &payload, &plen, err, sizeof(err));
	if (rc == 0)
		rc = run(s, STEP_HOLDER, &argv, payload, plen, SHORT_TIMEOUT_MS, holder_done);
	sr_envwrap_payload_free(payload, plen);
	sr_argv_free(&holder);
	sr_argv_free(&inner);
	sr_argv_free(&argv);
	free(names);
	free(env);
	if (rc < 0)
		fail(s, true, "could not start the program: %s%s", err[0] ? err : strerror(-rc), "");
}

/* ---- 4. attach -------------------------------------------------------------- */

static void on_op(void *data, const struct vt_op *op)
{
	rs_emit_op(data, op);
}

static void on_raw(void *data, const char *buf, size_t len)
{
	rs_emit_raw(data, buf, len);
}

static void on_channel_end(void *data, int status, const char *why)
{
	struct rsess *s = data;
	if (s->r->freeing || s->st != SR_RS_RUNNING)
		return;
	struct sr_ssh_driver *d = rs_driver(s);
	if (!d || sr_ssh_status(sr_ssh_driver_ssh(d)) < 0) {
		/* The connection failed: host_down detaches, host_up checks. */
		rs_set_state(s, SR_RS_DETACHED, why);
		return;
	}
	sr_log(SR_LOG_INFO, "session %s: attach client ended (%s, status %d); checking the holder",
	       s->id, why, status);
	rs_check(s);
}

void rs_attach(struct rsess *s)
{
	struct sr_ssh_driver *d = rs_driver(s);
	if (!d)
		return; /* host_down has made it DETACHED; host_up comes back here */
	uint64_t now = sr_loop_now(s->r->loop);
	if (now - s->flap_t0 > FLAP_WINDOW_MS) {
		s->flap_t0 = now;
		s->flaps = 0;
	}
	if (++s->flaps > FLAP_MAX) {
		fail(s, true, "the session's holder keeps closing the connection (%s%s)",
		     "reattached too often", "");
		return;
	}
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, NULL);
	struct sr_argv holder = {0}, argv = {0};
	char err[512] = "";
	int rc = sr_holder_attach_argv(s->id, &holder);
	if (rc == 0)
		rc = sr_container_attach_argv(&spec, &holder, &argv, err, sizeof(err));
	if (rc == 0 && !s->vs) {
		struct sr_session_opts o = {
			.driver = d,
			.term = s->r->cfg->term,
			.cols = s->cols,
			.rows = s->rows,
			.argv = (const char *const *)argv.v,
			.on_op = on_op,
			.op_data = s,
			.on_exit = on_channel_end,
			.exit_data = s,
			.on_raw = on_raw,
			.raw_data = s,
			.reattachable = true,
		};
		rc = sr_session_start(&o, &s->vs, err, sizeof(err));
	} else if (rc == 0) {
		rc = sr_session_reattach(s->vs, d, (const char *const *)argv.v, err, sizeof(err));
	}
	sr_argv_free(&holder);
	sr_argv_free(&argv);
	if (rc < 0) {
		fail(s, true, "could not attach: %s%s", err[0] ? err : strerror(-rc), "");
		return;
	}
	bool first = !s->started;
	s->started = true;
	rs_set_state(s, SR_RS_RUNNING, first ? "started" : "reattached");
	if (first)
		rs_finish_done(s, 0, "");
	rs_save(s->r);
}

/* ---- checks after a drop or a restart ---------------------------------------- */

static void alive_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return;
	s->step = STEP_NONE;
	if (res->rc == 0 && res->status == 0) {
		if (s->st == SR_RS_DETACHED || s->st == SR_RS_RUNNING || s->st == SR_RS_STARTING)
			rs_attach(s);
		return;
	}
	fail(s, true, "%s%s", res->rc < 0 ? "could not check the session: " : "the program exited",
	     res->rc < 0 ? res->msg : "");
}

static void check_alive(struct rsess *s)
{
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, NULL);
	struct sr_argv holder = {0}, argv = {0};
	char err[512] = "";
	int rc = sr_holder_alive_argv(s->id, &holder);
	if (rc == 0)
		rc = sr_container_exec_argv(&spec, &holder, 0, &argv, err, sizeof(err));
	if (rc == 0)
		rc = run(s, STEP_ALIVE, &argv, NULL, 0, SHORT_TIMEOUT_MS, alive_done);
	sr_argv_free(&holder);
	sr_argv_free(&argv);
	if (rc < 0 && rc != -ENOTCONN)
		fail(s, true, "could not check the session: %s%s", err[0] ? err : strerror(-rc), "");
}

static void running_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return;
	s->step = STEP_NONE;
	if (res->rc < 0 || res->status != 0) {
		char line[512];
		last_line(res, line, sizeof(line));
		fail(s, true, "could not check the container: %s%s", res->rc < 0 ? res->msg : line, "");
		return;
	}
	bool any = false;
	for (size_t i = 0; i < res->out_len; i++)
		any |= res->out[i] > ' ';
	if (!any) {
		fail(s, false, "its container is gone%s%s", "", "");
		return;
	}
	check_alive(s);
}

void rs_check(struct rsess *s)
{
	if (s->job)
		return;
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, NULL);
	struct sr_argv argv = {0};
	char err[512] = "";
	int rc = sr_container_running_argv(&spec, &argv, err, sizeof(err));
	if (rc == 0 && argv.n == 0) {
		check_alive(s); /* runtime none */
		return;
	}
	if (rc == 0)
		rc = run(s, STEP_RUNNING, &argv, NULL, 0, SHORT_TIMEOUT_MS, running_done);
	sr_argv_free(&argv);
	if (rc < 0 && rc != -ENOTCONN)
		fail(s, true, "could not check the container: %s%s", err[0] ? err : strerror(-rc), "");
}

/* ---- removal ---------------------------------------------------------------- */

static void remove_done(void *data, const struct sr_exec_res *res)
{
	struct rsess *s = data;
	s->job = NULL;
	if (conn_failure(s, res))
		return; /* host_down: STOPPING ends with cleanup left for later */
	s->step = STEP_NONE;
	if (res->rc < 0 || res->status != 0) {
		char line[512];
		last_line(res, line, sizeof(line));
		/* Already gone is the usual reason; say it and move on. */
		sr_log(SR_LOG_WARN, "session %s: removal: %s", s->id, res->rc < 0 ? res->msg : line);
	}
	s->cleanup = false;
	if (s->st == SR_RS_STOPPING) {
		rs_end(s, "stopped");
	} else {
		rs_forget(s); /* an ended session's leftovers are gone */
	}
}

void rs_remove(struct rsess *s)
{
	if (s->job)
		return;
	struct sr_container_spec spec;
	rs_fill_spec(s, &spec, NULL);
	struct sr_argv argv = {0};
	char err[512] = "";
	int rc = sr_container_remove_argv(&spec, &argv, err, sizeof(err));
	if (rc == 0 && argv.n == 0)
		rc = sr_holder_stop_argv(s->id, &argv); /* runtime none */
	if (rc == 0)
		rc = run(s, STEP_REMOVE, &argv, NULL, 0, SHORT_TIMEOUT_MS, remove_done);
	sr_argv_free(&argv);
	if (rc < 0) {
		sr_log(SR_LOG_WARN, "session %s: cannot remove it now: %s", s->id,
		       err[0] ? err : strerror(-rc));
		s->cleanup = true;
		if (s->st == SR_RS_STOPPING)
			rs_end(s, "stopped (its container is removed when the VM is reachable again)");
	}
}
