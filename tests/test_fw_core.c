/* test_fw_core.c — the fw core with the log and command backends: the
 * loop contract (callbacks only from fw_step), one writer in queue order,
 * scopes and session ends, preapproved names, the policy at the door, the
 * audit trail, the approval table across restarts; the command backend's
 * argv templates (no shell: hostile text stays one literal word) with a
 * shim that records its argv; the child-process runner (fw_proc). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fw.h"
#include "fw_backend.h"
#include "fw_proc.h"
#include "test_fw_support.h"

static char dir[256], shim[320], shimlog[320], audit_path[320], state[320];

static void setup(void)
{
	fwt_tmpdir(dir, sizeof(dir), "core");
	snprintf(shim, sizeof(shim), "%s/shim.sh", dir);
	snprintf(shimlog, sizeof(shimlog), "%s/log", dir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	/* Records its argv as "word [arg] [arg]"; start/end markers show
	 * overlap; files in dir steer it (sleep, fail, list). */
	char text[2048];
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "d='%s'\n"
		 "echo start >> \"$d/events\"\n"
		 "line=\"$1\"; shift\n"
		 "for a in \"$@\"; do line=\"$line [$a]\"; done\n"
		 "echo \"$line\" >> \"$d/log\"\n"
		 "env > \"$d/env\"\n"
		 "[ -f \"$d/sleep\" ] && sleep \"$(cat \"$d/sleep\")\"\n"
		 "[ -f \"$d/list\" ] && case \"$line\" in list*) cat \"$d/list\";; esac\n"
		 "echo end >> \"$d/events\"\n"
		 "if [ -f \"$d/fail\" ]; then echo \"shim: refused $*\" >&2; exit \"$(cat \"$d/fail\")\"; fi\n"
		 "exit 0\n",
		 dir);
	fwt_write_file(shim, text, true);
}

static void teardown(void)
{
	fwt_rmtree(dir);
}

TestSuite(fw_core, .init = setup, .fini = teardown);

static void set_file(const char *name, const char *text)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fwt_write_file(p, text, false);
}

static char *shim_log(void)
{
	char *t = fwt_read_file(shimlog);
	return t ? t : strdup("");
}

static struct fw *new_log_fw(const char *const *pre)
{
	struct fw_opts o = {.kind = FW_BACKEND_LOG, .audit_path = audit_path, .preapproved = pre};
	struct fw *f;
	char err[256];
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), 0, "%s", err);
	return f;
}

static const char *add_tpl[8], *remove_tpl[8], *list_tpl[8];

static struct fw *new_cmd_fw(bool with_list, unsigned timeout_s, const char *state_dir)
{
	const char *a[] = {shim, "add", "{host}", NULL};
	const char *r[] = {shim, "remove", "{host}", NULL};
	const char *l[] = {shim, "list", NULL};
	memcpy(add_tpl, a, sizeof(a));
	memcpy(remove_tpl, r, sizeof(r));
	memcpy(list_tpl, l, sizeof(l));
	struct fw_opts o = {
		.kind = FW_BACKEND_COMMAND,
		.audit_path = audit_path,
		.state_dir = state_dir,
		.command = {.add = add_tpl, .remove = remove_tpl,
			    .list = with_list ? list_tpl : NULL, .timeout_s = timeout_s},
	};
	struct fw *f;
	char err[256];
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), 0, "%s", err);
	return f;
}

static void add_ok(struct fw *f, const char *host, const struct fw_actor *who)
{
	struct fwt_done d = {0};
	char err[256];
	cr_assert_eq(fw_add(f, host, who, fwt_done_cb, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(fwt_run(f, &d.called, 10000, NULL), "add %s never completed", host);
	cr_assert_eq(d.rc, 0, "add %s: %s", host, d.msg);
}

static void session_end(struct fw *f, const char *s)
{
	struct fwt_done d = {0};
	cr_assert_eq(fw_session_ended(f, s, fwt_done_cb, &d), 0);
	cr_assert(fwt_run(f, &d.called, 10000, NULL));
	cr_assert_eq(d.rc, 0, "%s", d.msg);
}

Test(fw_core, callbacks_run_only_from_fw_step)
{
	struct fw *f = new_log_fw(NULL);
	cr_assert_str_eq(fw_backend_name(f), "log");
	struct fwt_done d = {0};
	char err[256];
	struct fw_actor who = {.user = "alice", .session = "s1", .scope = FW_SCOPE_PERMANENT};
	cr_assert_eq(fw_add(f, "PyPI.org", &who, fwt_done_cb, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(!d.called, "the callback ran inside fw_add");
	/* queued work: the loop must not sleep */
	struct pollfd fds[FW_POLL_FDS];
	uint64_t dl;
	fw_poll(f, fds, FW_POLL_FDS, &dl);
	cr_assert_leq(dl, fw_now_ms(), "queued work but the deadline is in the future");
	cr_assert(fwt_run(f, &d.called, 5000, NULL));
	cr_assert(!d.outside_step, "the callback ran outside fw_step");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 1);
	cr_assert_eq(fw_is_allowed(f, "PYPI.ORG."), 1, "fw_is_allowed normalises too");
	cr_assert_eq(fw_is_allowed(f, "files.pythonhosted.org"), 0);

	struct fwt_done r = {0};
	cr_assert_eq(fw_remove(f, "pypi.org", &who, fwt_done_cb, &r, err, sizeof(err)), 0);
	cr_assert(!r.called);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 1, "still allowed until the removal applied");
	cr_assert(fwt_run(f, &r.called, 5000, NULL));
	cr_assert(!r.outside_step);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 0);
	/* idle: nothing to wait for */
	size_t n = fw_poll(f, fds, FW_POLL_FDS, &dl);
	cr_assert_eq(n, 0);
	cr_assert_eq(dl, UINT64_MAX);
	fw_free(f);

	cr_assert_eq(fwt_audit_count(audit_path, "add", "pypi.org"), 1);
	cr_assert_eq(fwt_audit_count(audit_path, "remove", "pypi.org"), 1);
	cr_assert_eq(fwt_audit_count(audit_path, "applied", "pypi.org"), 2);
	char *text = fwt_read_file(audit_path);
	cr_assert_not_null(strstr(text, "\"user\":\"alice\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"backend\":\"log\""), "%s", text);
	free(text);
}

Test(fw_core, policy_refusals_are_immediate_and_audited)
{
	const char *deny[] = {"relay.example", NULL};
	struct fw_opts o = {.kind = FW_BACKEND_LOG, .audit_path = audit_path, .deny = deny};
	struct fw *f;
	char err[256];
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), 0, "%s", err);
	struct fwt_done d = {0};
	cr_assert_eq(fw_add(f, "0.0.0.0/0", NULL, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "CIDR"), "%s", err);
	cr_assert_eq(fw_add(f, "evil.com\nbad.com", NULL, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(fw_add(f, "api.relay.example", NULL, fwt_done_cb, &d, err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "deny list"), "%s", err);
	struct fw_actor bad = {.user = "bob", .scope = FW_SCOPE_SESSION}; /* no session id */
	cr_assert_eq(fw_add(f, "pypi.org", &bad, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "session"), "%s", err);
	struct fw_actor carol = {.user = "carol", .session = "s9"};
	cr_assert_eq(fw_deny(f, "tracker.example", &carol, "not needed for the task"), 0);
	/* a name denied after its approval can still be removed */
	struct fwt_done rm = {0};
	cr_assert_eq(fw_remove(f, "api.relay.example", NULL, fwt_done_cb, &rm, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert(fwt_run(f, &rm.called, 5000, NULL));
	cr_assert_eq(fw_remove(f, "localhost", NULL, fwt_done_cb, &rm, err, sizeof(err)), -EINVAL);
	fwt_run_for(f, 100);
	cr_assert(!d.called, "a refused request must not call back");
	cr_assert_eq(fw_is_allowed(f, "api.relay.example"), 0);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "refused", NULL), 4);
	cr_assert_eq(fwt_audit_count(audit_path, "refused", "evil.com\nbad.com"), 1,
		     "the raw input is recorded (escaped) for the record");
	cr_assert_eq(fwt_audit_count(audit_path, "deny", "tracker.example"), 1);
	char *text = fwt_read_file(audit_path);
	cr_assert_not_null(strstr(text, "not needed for the task"));
	cr_assert_not_null(strstr(text, "\"session\":\"s9\""));
	free(text);
}

struct order {
	char seen[8][32];
	int n;
	bool all;
};

static struct order order;

static void order_cb(void *data, int rc, const char *msg)
{
	(void)msg;
	cr_assert_eq(rc, 0);
	snprintf(order.seen[order.n++], 32, "%s", (const char *)data);
	order.all = order.n == 4;
}

Test(fw_core, one_writer_in_queue_order)
{
	struct fw *f = new_cmd_fw(false, 0, NULL);
	set_file("sleep", "0.3");
	char err[256];
	cr_assert_eq(fw_add(f, "a.example", NULL, order_cb, "add a", err, sizeof(err)), 0);
	cr_assert_eq(fw_add(f, "b.example", NULL, order_cb, "add b", err, sizeof(err)), 0);
	cr_assert_eq(fw_remove(f, "a.example", NULL, order_cb, "remove a", err, sizeof(err)), 0);
	cr_assert_eq(fw_add(f, "c.example", NULL, order_cb, "add c", err, sizeof(err)), 0);
	struct fwt_stats st = {0};
	cr_assert(fwt_run(f, &order.all, 20000, &st), "%d callbacks", order.n);
	cr_assert_str_eq(order.seen[0], "add a");
	cr_assert_str_eq(order.seen[1], "add b");
	cr_assert_str_eq(order.seen[2], "remove a");
	cr_assert_str_eq(order.seen[3], "add c");
	char *log = shim_log();
	cr_assert_str_eq(log, "add [a.example]\nadd [b.example]\nremove [a.example]\nadd [c.example]\n");
	free(log);
	/* never two commands at once: start/end strictly alternate */
	char p[400];
	snprintf(p, sizeof(p), "%s/events", dir);
	char *ev = fwt_read_file(p);
	cr_assert_str_eq(ev, "start\nend\nstart\nend\nstart\nend\nstart\nend\n");
	free(ev);
	/* well under one command's 300 ms: nothing waits for a child (the
	 * margin leaves room for the audit's fsync on a loaded disk) */
	cr_assert_lt(st.max_call_us, 200000, "a step blocked for %llu us",
		     (unsigned long long)st.max_call_us);
	cr_assert_eq(fw_is_allowed(f, "a.example"), 0);
	cr_assert_eq(fw_is_allowed(f, "b.example"), 1);
	fw_free(f);
}

Test(fw_core, session_scopes_are_reference_counted)
{
	struct fw *f = new_cmd_fw(false, 0, NULL);
	struct fw_actor s1 = {.user = "u1", .session = "s1", .scope = FW_SCOPE_SESSION};
	struct fw_actor s2 = {.user = "u2", .session = "s2", .scope = FW_SCOPE_SESSION};
	struct fw_actor s3 = {.user = "u3", .session = "s3", .scope = FW_SCOPE_SESSION};
	struct fw_actor perm = {.user = "admin", .scope = FW_SCOPE_PERMANENT};
	add_ok(f, "x.example", &s1);
	add_ok(f, "x.example", &s2);
	add_ok(f, "y.example", &perm);
	add_ok(f, "y.example", &s3);
	add_ok(f, "z.example", &s1);
	char *log = shim_log();
	cr_assert_str_eq(log, "add [x.example]\nadd [y.example]\nadd [z.example]\n",
			 "an already-applied host must not be applied again");
	free(log);

	session_end(f, "s1");
	cr_assert_eq(fw_is_allowed(f, "x.example"), 1, "s2 still needs x");
	cr_assert_eq(fw_is_allowed(f, "z.example"), 0, "only s1 needed z");
	session_end(f, "s2");
	cr_assert_eq(fw_is_allowed(f, "x.example"), 0);
	session_end(f, "s3");
	cr_assert_eq(fw_is_allowed(f, "y.example"), 1, "a permanent approval outlives sessions");
	session_end(f, "unknown-session");
	log = shim_log();
	cr_assert_str_eq(log,
			 "add [x.example]\nadd [y.example]\nadd [z.example]\n"
			 "remove [z.example]\nremove [x.example]\n");
	free(log);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "remove", "x.example"), 1);
}

Test(fw_core, session_end_sees_approvals_queued_before_it)
{
	struct fw *f = new_cmd_fw(false, 0, NULL);
	struct fw_actor s1 = {.user = "u1", .session = "s1", .scope = FW_SCOPE_SESSION};
	struct fwt_done a = {0}, e = {0};
	char err[256];
	/* both queued before any step: the end must see the add */
	cr_assert_eq(fw_add(f, "late.example", &s1, fwt_done_cb, &a, err, sizeof(err)), 0);
	cr_assert_eq(fw_session_ended(f, "s1", fwt_done_cb, &e), 0);
	cr_assert(fwt_run(f, &e.called, 10000, NULL));
	cr_assert(a.called);
	cr_assert(!e.outside_step);
	cr_assert_eq(fw_is_allowed(f, "late.example"), 0);
	char *log = shim_log();
	cr_assert_str_eq(log, "add [late.example]\nremove [late.example]\n");
	free(log);
	fw_free(f);
}

Test(fw_core, preapproved_names_are_added_at_start)
{
	const char *pre[] = {"pypi.org", "Files.PythonHosted.org.", NULL};
	struct fw *f = new_log_fw(pre);
	fwt_run_for(f, 200);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 1);
	cr_assert_eq(fw_is_allowed(f, "files.pythonhosted.org"), 1);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "applied", "files.pythonhosted.org"), 1);

	const char *bad[] = {"pypi.org", "10.0.0.0/8", NULL};
	struct fw_opts o = {.kind = FW_BACKEND_LOG, .preapproved = bad};
	char err[256];
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "10.0.0.0/8"), "%s", err);
	cr_assert_not_null(strstr(err, "CIDR"), "%s", err);
}

Test(fw_core, command_arguments_are_never_interpreted)
{
	char pwned[400];
	snprintf(pwned, sizeof(pwned), "%s/pwned", dir);
	char w1[500], w2[500];
	snprintf(w1, sizeof(w1), "--comment=$(touch %s)", pwned);
	snprintf(w2, sizeof(w2), "`touch %s`;{host};{host}", pwned);
	const char *a[] = {shim, "add", "--host={host}", w1, w2, "*", NULL};
	const char *r[] = {shim, "remove", "{host}", NULL};
	struct fw_opts o = {.kind = FW_BACKEND_COMMAND, .command = {.add = a, .remove = r}};
	struct fw *f;
	char err[256];
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), 0, "%s", err);
	add_ok(f, "pypi.org", NULL);
	/* hostile hosts never get that far */
	struct fwt_done d = {0};
	cr_assert_eq(fw_add(f, "pypi.org; touch x", NULL, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(fw_add(f, "-rf.example", NULL, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(fw_add(f, "$(id).example", NULL, fwt_done_cb, &d, err, sizeof(err)), -EINVAL);
	fw_free(f);
	char *log = shim_log();
	char want[2048];
	snprintf(want, sizeof(want),
		 "add [--host=pypi.org] [--comment=$(touch %s)] [`touch %s`;pypi.org;pypi.org] [*]\n",
		 pwned, pwned);
	cr_assert_str_eq(log, want);
	free(log);
	cr_assert_neq(access(pwned, F_OK), 0, "a shell ran the template");
}

Test(fw_core, command_environment_holds_no_secrets)
{
	setenv("SM_OPNSENSE_SECRET", "topsecret-value", 1);
	struct fw *f = new_cmd_fw(false, 0, NULL);
	add_ok(f, "pypi.org", NULL);
	fw_free(f);
	char p[400];
	snprintf(p, sizeof(p), "%s/env", dir);
	char *env = fwt_read_file(p);
	cr_assert_not_null(env);
	cr_assert_null(strstr(env, "topsecret"), "the relay's environment leaked: %s", env);
	cr_assert_not_null(strstr(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"), "%s", env);
	free(env);
}

Test(fw_core, command_failure_is_reported_with_its_stderr)
{
	struct fw *f = new_cmd_fw(false, 0, NULL);
	set_file("fail", "3");
	struct fwt_done d = {0};
	char err[256];
	cr_assert_eq(fw_add(f, "pypi.org", NULL, fwt_done_cb, &d, err, sizeof(err)), 0);
	cr_assert(fwt_run(f, &d.called, 10000, NULL));
	cr_assert_eq(d.rc, -EIO);
	cr_assert_not_null(strstr(d.msg, "exit status 3"), "%s", d.msg);
	cr_assert_not_null(strstr(d.msg, "shim: refused pypi.org"), "%s", d.msg);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 0);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "failed", "pypi.org"), 1);
}

Test(fw_core, command_timeout_kills_it)
{
	struct fw *f = new_cmd_fw(false, 1, NULL);
	set_file("sleep", "30");
	struct fwt_done d = {0};
	char err[256];
	time_t t0 = time(NULL);
	cr_assert_eq(fw_add(f, "pypi.org", NULL, fwt_done_cb, &d, err, sizeof(err)), 0);
	cr_assert(fwt_run(f, &d.called, 10000, NULL));
	cr_assert_eq(d.rc, -ETIMEDOUT, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "timed out"), "%s", d.msg);
	cr_assert_leq(time(NULL) - t0, 4);
	fw_free(f);
}

Test(fw_core, list_command_seeds_the_table)
{
	set_file("list", "pypi.org\nNOT A HOST\n10.0.0.1\nExample.COM.\n\n# comment\n");
	struct fw *f = new_cmd_fw(true, 0, NULL);
	fwt_run_for(f, 300); /* the start-up list */
	cr_assert_eq(fw_is_allowed(f, "example.com"), 1, "hosts the backend already has count");
	struct fwt_list l = {0};
	cr_assert_eq(fw_list(f, fwt_list_cb, &l), 0);
	cr_assert(!l.called);
	cr_assert(fwt_run(f, &l.called, 5000, NULL));
	cr_assert_eq(l.rc, 0);
	cr_assert_str_eq(l.hosts, "pypi.org,example.com");
	fw_free(f);
}

Test(fw_core, list_without_a_template_comes_from_the_table)
{
	struct fw *f = new_cmd_fw(false, 0, NULL);
	add_ok(f, "a.example", NULL);
	add_ok(f, "b.example", NULL);
	struct fwt_list l = {0};
	cr_assert_eq(fw_list(f, fwt_list_cb, &l), 0);
	cr_assert(fwt_run(f, &l.called, 5000, NULL));
	cr_assert_eq(l.rc, 0);
	cr_assert_str_eq(l.hosts, "a.example,b.example");
	fw_free(f);
}

Test(fw_core, session_scopes_survive_a_restart)
{
	struct fw *f = new_cmd_fw(false, 0, state);
	struct fw_actor s1 = {.user = "u1", .session = "s1", .scope = FW_SCOPE_SESSION};
	add_ok(f, "kept.example", &s1);
	fw_free(f);
	struct stat sb;
	char p[400];
	snprintf(p, sizeof(p), "%s/fw-approvals.json", state);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);

	f = new_cmd_fw(false, 0, state);
	fwt_run_for(f, 100);
	cr_assert_eq(fw_is_allowed(f, "kept.example"), 1);
	session_end(f, "s1");
	cr_assert_eq(fw_is_allowed(f, "kept.example"), 0);
	fw_free(f);
	char *log = shim_log();
	cr_assert_str_eq(log, "add [kept.example]\nremove [kept.example]\n");
	free(log);
}

Test(fw_core, bad_options_are_refused)
{
	struct fw *f;
	char err[256];
	const char *no_host[] = {"/bin/true", NULL};
	const char *r[] = {"/bin/true", "{host}", NULL};
	struct fw_opts o = {.kind = FW_BACKEND_COMMAND, .command = {.add = no_host, .remove = r}};
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "{host}"), "%s", err);
	struct fw_opts rel = {.kind = FW_BACKEND_LOG, .state_dir = "relative/dir"};
	cr_assert_eq(fw_new(&rel, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "absolute"), "%s", err);
	struct fw_opts bad = {.kind = (enum fw_backend_kind)42};
	cr_assert_eq(fw_new(&bad, &f, err, sizeof(err)), -EINVAL);
}

/* ---- fw_proc ------------------------------------------------------------ */

static struct fw_proc *run_proc(const char *const *argv, const char *in, size_t inlen,
				size_t max_output, unsigned timeout_ms)
{
	struct fw_proc_opts o = {.argv = argv, .stdin_data = in, .stdin_len = inlen,
				 .max_output = max_output, .timeout_ms = timeout_ms};
	struct fw_proc *p;
	char err[256];
	cr_assert_eq(fw_proc_start(&o, &p, err, sizeof(err)), 0, "%s", err);
	for (int i = 0; i < 2000; i++) {
		struct pollfd fds[4];
		uint64_t dl = UINT64_MAX;
		size_t n = fw_proc_poll(p, fds, 4, &dl);
		uint64_t now = fw_now_ms();
		poll(fds, n, dl == UINT64_MAX ? 1000 : dl <= now ? 0 : (int)(dl - now));
		if (fw_proc_step(p))
			return p;
	}
	cr_assert_fail("the child never finished");
	return NULL;
}

Test(fw_proc, stdin_in_and_large_output_out)
{
	/* 3 MB through cat: more than any pipe buffer in both directions */
	size_t n = 3u << 20;
	char *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	const char *argv[] = {"cat", NULL};
	struct fw_proc *p = run_proc(argv, in, n, 4u << 20, 20000);
	struct fw_proc_result r;
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert_eq(r.exit_status, 0);
	cr_assert_eq(r.out_len, n);
	cr_assert_eq(memcmp(r.out, in, n), 0);
	cr_assert(!r.truncated);
	fw_proc_free(p);
	/* capped output */
	p = run_proc(argv, in, n, 1000, 20000);
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert_eq(r.out_len, 1000);
	cr_assert(r.truncated);
	fw_proc_free(p);
	free(in);
}

Test(fw_proc, exit_status_signal_and_missing_program)
{
	const char *sh[] = {"/bin/sh", "-c", "echo oops >&2; exit 7", NULL};
	struct fw_proc *p = run_proc(sh, NULL, 0, 0, 5000);
	struct fw_proc_result r;
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert_eq(r.exit_status, 7);
	char d[200];
	fw_proc_describe(p, d, sizeof(d));
	cr_assert_str_eq(d, "exit status 7: oops");
	fw_proc_free(p);

	const char *kill_self[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
	p = run_proc(kill_self, NULL, 0, 0, 5000);
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert_eq(r.exit_status, -1);
	cr_assert_eq(r.signal, SIGTERM);
	fw_proc_free(p);

	/* a child that ignores its stdin: writing to it must not kill us */
	char big[200000];
	memset(big, 'x', sizeof(big));
	const char *t[] = {"true", NULL};
	p = run_proc(t, big, sizeof(big), 0, 5000);
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert_eq(r.exit_status, 0);
	fw_proc_free(p);

	const char *missing[] = {"/nonexistent/program", NULL};
	struct fw_proc_opts o = {.argv = missing};
	char err[256];
	cr_assert_eq(fw_proc_start(&o, &p, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/program"), "%s", err);
}

/* Running, not a zombie waiting for whoever inherited it. */
static int process_alive(pid_t pid)
{
	if (kill(pid, 0) != 0)
		return 0;
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	char *st = fwt_read_file(p);
	if (!st)
		return 0;
	char *close_paren = strrchr(st, ')');
	int zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
	free(st);
	return !zombie;
}

Test(fw_proc, timeout_kills_the_whole_group)
{
	char pidfile[300];
	fwt_tmpdir(dir, sizeof(dir), "proc");
	snprintf(pidfile, sizeof(pidfile), "%s/grandchild", dir);
	char script[600];
	/* a shell whose own child would outlive it if only the shell died */
	snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; wait", pidfile);
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	uint64_t t0 = fw_now_ms();
	struct fw_proc *p = run_proc(argv, NULL, 0, 0, 300);
	cr_assert_lt(fw_now_ms() - t0, 3000);
	struct fw_proc_result r;
	cr_assert_eq(fw_proc_result(p, &r), 0);
	cr_assert(r.timed_out);
	fw_proc_free(p);
	char *pid = fwt_read_file(pidfile);
	cr_assert_not_null(pid);
	pid_t gc = (pid_t)atoi(pid);
	free(pid);
	/* give the kernel a moment to deliver SIGKILL to the group */
	int alive = 1;
	for (int i = 0; i < 50 && alive; i++) {
		alive = process_alive(gc);
		if (alive)
			nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	cr_assert(!alive, "the grandchild survived the timeout");
	fwt_rmtree(dir);
}
