/* test_fw_opnsense.c — the OPNsense backend against the fake over HTTPS
 * with its CA file: the reference call sequence, idempotency, HTTP and
 * validation errors surfaced, transport failures retried after a re-read,
 * a slow apply that never blocks the loop, the apply-pending flag repairing
 * a crash between save and apply, TLS verification on by default, and no
 * secret in any message or audit record. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fw.h"
#include "fw_backend.h"
#include "test_fw_support.h"

#define ALIAS "llm_approved_domains"
#define JSON "application/json"

static struct fwt_fake fk;
static char dir[256], state[320], audit_path[320], flag[400];

static void setup(void)
{
	fwt_fake_start(&fk);
	fwt_tmpdir(dir, sizeof(dir), "opn");
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);
	snprintf(flag, sizeof(flag), "%s/opnsense-" ALIAS ".apply-pending", state);
	fwt_fake_config(&fk, "{\"dns\":{\"pypi.org\":[\"151.101.0.223\",\"2a04:4e42::223\"],"
			     "\"files.pythonhosted.org\":[\"151.101.64.223\"],"
			     "\"other.example\":[\"192.0.2.9\"]}}");
}

static void teardown(void)
{
	fwt_fake_stop(&fk);
	fwt_rmtree(dir);
}

TestSuite(fw_opnsense, .init = setup, .fini = teardown);

struct logged {
	int n;
	char last[512];
};
static struct logged logged;

static void log_cb(void *data, const char *line)
{
	(void)data;
	logged.n++;
	snprintf(logged.last, sizeof(logged.last), "%s", line);
}

struct opn_cfg {
	const char *key, *secret, *alias;
	bool no_ca, insecure;
	unsigned timeout_s, apply_timeout_s;
};

static int try_new(const struct opn_cfg *c, struct fw **f, char *err, size_t errlen)
{
	struct fw_opts o = {
		.kind = FW_BACKEND_OPNSENSE,
		.opnsense = {.url = fk.url,
			     .key = c->key ? c->key : "admin-key",
			     .secret = c->secret ? c->secret : "admin-secret",
			     .alias = c->alias ? c->alias : ALIAS,
			     .ca_file = c->no_ca ? NULL : fk.ca,
			     .insecure = c->insecure,
			     .timeout_s = c->timeout_s ? c->timeout_s : 5,
			     .apply_timeout_s = c->apply_timeout_s},
		.state_dir = state,
		.audit_path = audit_path,
		.log = log_cb,
	};
	return fw_new(&o, f, err, errlen);
}

static struct fw *new_fw(const struct opn_cfg *c)
{
	static const struct opn_cfg dflt = {0};
	struct fw *f;
	char err[256];
	cr_assert_eq(try_new(c ? c : &dflt, &f, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(fw_backend_name(f), "opnsense");
	return f;
}

/* Lets the start-up work (the list that fills the table) finish. */
static void settle(struct fw *f)
{
	struct fwt_list l = {0};
	cr_assert_eq(fw_list(f, fwt_list_cb, &l), 0);
	cr_assert(fwt_run(f, &l.called, 20000, NULL), "start-up never finished");
}

static struct fwt_done run_add(struct fw *f, const char *host)
{
	struct fwt_done d = {0};
	char err[256];
	cr_assert_eq(fw_add(f, host, NULL, fwt_done_cb, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(fwt_run(f, &d.called, 30000, NULL), "add %s never completed", host);
	cr_assert(!d.outside_step);
	return d;
}

static struct fwt_done run_remove(struct fw *f, const char *host)
{
	struct fwt_done d = {0};
	char err[256];
	cr_assert_eq(fw_remove(f, host, NULL, fwt_done_cb, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(fwt_run(f, &d.called, 30000, NULL));
	return d;
}

static void raw_content(const char *content)
{
	char body[600];
	snprintf(body, sizeof(body), "{\"name\":\"" ALIAS "\",\"set\":{\"content\":\"%s\"}}", content);
	char *r = NULL;
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/alias", JSON, body, NULL, &r, NULL), 200);
	free(r);
}

static void reset_calls(void)
{
	char *r = NULL;
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/reset", JSON, "{}", NULL, &r, NULL), 200);
	free(r);
}

/* The fake's keys and secrets all end in -key / -secret. */
static void assert_no_secret_anywhere(const char *msg)
{
	cr_assert_null(strstr(msg, "-secret"), "%s", msg);
	cr_assert_null(strstr(msg, "-key"), "%s", msg);
	char *a = fwt_read_file(audit_path);
	if (a) {
		cr_assert_null(strstr(a, "-secret"), "the audit log holds a secret: %s", a);
		cr_assert_null(strstr(a, "-key"), "the audit log holds a key: %s", a);
		free(a);
	}
}

Test(fw_opnsense, add_list_remove_with_the_reference_sequence)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "get_alias_u_u_i_d"), 1);
	cr_assert_eq(fwt_calls(st, "get_item"), 2, "the start-up list and ours");
	cr_assert_eq(fwt_calls(st, "set_item"), 0, "listing wrote something");
	cJSON_Delete(st);
	reset_calls();

	struct fwt_done d = run_add(f, "PyPI.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_str_eq(d.msg, "added and applied");
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 1);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "pypi.org");
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223,2a04:4e42::223", "not applied: %s", pf);
	free(pf);
	/* uuid cached: read, write, apply */
	cr_assert_eq(fwt_calls(st, "get_alias_u_u_i_d"), 0);
	cr_assert_eq(fwt_calls(st, "get_item"), 1);
	cr_assert_eq(fwt_calls(st, "set_item"), 1);
	cr_assert_eq(fwt_calls(st, "reconfigure"), 1);
	cJSON_Delete(st);
	cr_assert_neq(access(flag, F_OK), 0, "the apply-pending flag outlived the apply");

	d = run_add(f, "files.pythonhosted.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	struct fwt_list l = {0};
	cr_assert_eq(fw_list(f, fwt_list_cb, &l), 0);
	cr_assert(fwt_run(f, &l.called, 10000, NULL));
	cr_assert_eq(l.rc, 0);
	cr_assert_str_eq(l.hosts, "pypi.org,files.pythonhosted.org");

	d = run_remove(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 0);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "files.pythonhosted.org");
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.64.223");
	free(pf);
	cJSON_Delete(st);
	d = run_remove(f, "files.pythonhosted.org");
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "", "the empty list is \"\"");
	cJSON_Delete(st);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "applied", "pypi.org"), 2);
	assert_no_secret_anywhere("");
}

Test(fw_opnsense, changes_are_idempotent_and_keep_foreign_entries)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	/* edited by hand meanwhile: a case variant, an address, another name */
	raw_content("PyPI.org\\n192.0.2.1\\nother.example");
	reset_calls();
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_str_eq(d.msg, "already present");
	d = run_remove(f, "absent.example");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_str_eq(d.msg, "not present");
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "set_item"), 0, "a no-op wrote");
	cr_assert_eq(fwt_calls(st, "reconfigure"), 0, "a no-op applied");
	cJSON_Delete(st);
	d = run_add(f, "files.pythonhosted.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	d = run_remove(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "192.0.2.1\nother.example\nfiles.pythonhosted.org",
			 "order kept, foreign entries kept, the case variant removed");
	cJSON_Delete(st);
	fw_free(f);
}

Test(fw_opnsense, bad_credentials_and_missing_privileges)
{
	struct opn_cfg bad = {.secret = "wrong-secret"};
	logged.n = 0;
	struct fw *f = new_fw(&bad);
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(logged.n, 1, "the failed start-up list was not reported");
	cr_assert_not_null(strstr(logged.last, "cannot list"), "%s", logged.last);
	cr_assert_eq(d.rc, -EACCES, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "401"), "%s", d.msg);
	cr_assert_null(strstr(d.msg, "wrong-secret"), "%s", d.msg);
	fw_free(f);
	char *a = fwt_read_file(audit_path);
	cr_assert_null(strstr(a, "wrong-secret"));
	free(a);

	/* read-only privilege: the read works, the write is forbidden */
	struct opn_cfg ro = {.key = "ro-key", .secret = "ro-secret"};
	f = new_fw(&ro);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EPERM, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "403"), "%s", d.msg);
	cr_assert_not_null(strstr(d.msg, "set_item"), "%s", d.msg);
	cr_assert_neq(access(flag, F_OK), 0, "a refused write must not leave an apply pending");
	fw_free(f);

	/* a read-only user: 500 with OPNsense's message */
	struct opn_cfg rou = {.key = "rouser-key", .secret = "rouser-secret"};
	f = new_fw(&rou);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EIO);
	cr_assert_not_null(strstr(d.msg, "denied for write access"), "%s", d.msg);
	fw_free(f);
	assert_no_secret_anywhere(d.msg);
}

Test(fw_opnsense, validation_failure_is_reported)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	raw_content("bad_entry.example");
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EINVAL, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "Entry \"bad_entry.example\" is not a valid hostname"), "%s",
			   d.msg);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 0);
	cr_assert_neq(access(flag, F_OK), 0, "nothing saved, nothing to apply");
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "failed", "pypi.org"), 1);
}

Test(fw_opnsense, apply_failure_then_the_retry_applies)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	fwt_fake_config(&fk, "{\"reconfigure_fail\":1}");
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EIO);
	cr_assert_not_null(strstr(d.msg, "Error loading alias [" ALIAS "]"), "%s", d.msg);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 0);
	cr_assert_eq(access(flag, F_OK), 0, "saved but not applied: the flag must stay");
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "pypi.org");
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	free(pf);
	cJSON_Delete(st);
	/* the same request again: nothing to write, but the apply is due */
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_not_null(strstr(d.msg, "pending apply was completed"), "%s", d.msg);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223,2a04:4e42::223");
	free(pf);
	cr_assert_eq(fwt_calls(st, "set_item"), 1);
	cr_assert_eq(fwt_calls(st, "reconfigure"), 2, "%d", fwt_calls(st, "reconfigure"));
	cJSON_Delete(st);
	cr_assert_neq(access(flag, F_OK), 0);
	fw_free(f);
}

Test(fw_opnsense, transport_failures_are_retried_after_a_reread)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	/* the write's answer breaks off before it was done */
	reset_calls();
	fwt_fake_config(&fk, "{\"cut\":{\"set_item\":1}}");
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "get_item"), 2, "no re-read before the retry: %d",
		     fwt_calls(st, "get_item"));
	cr_assert_eq(fwt_calls(st, "set_item"), 2);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "pypi.org");
	cJSON_Delete(st);

	/* the write is done but its answer is lost: the re-read sees it */
	reset_calls();
	fwt_fake_config(&fk, "{\"cut_after\":{\"set_item\":1}}");
	d = run_add(f, "files.pythonhosted.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "set_item"), 1, "wrote twice");
	cr_assert_eq(fwt_calls(st, "reconfigure"), 1);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "pypi.org\nfiles.pythonhosted.org");
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223,151.101.64.223,2a04:4e42::223");
	free(pf);
	cJSON_Delete(st);

	/* a lost answer to the apply: retried the same way */
	reset_calls();
	fwt_fake_config(&fk, "{\"cut_after\":{\"reconfigure\":1}}");
	d = run_add(f, "other.example");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "reconfigure"), 2);
	cr_assert_eq(fwt_calls(st, "set_item"), 1);
	cJSON_Delete(st);

	/* a server that keeps failing: given up after the retries */
	fwt_fake_config(&fk, "{\"cut\":{\"get_item\":10}}");
	d = run_remove(f, "pypi.org");
	cr_assert_eq(d.rc, -EIO, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "after 3 retries"), "%s", d.msg);
	fw_free(f);
}

Test(fw_opnsense, malformed_json_is_an_error)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	fwt_fake_config(&fk, "{\"malformed\":{\"get_item\":1}}");
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EBADMSG, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "not valid JSON"), "%s", d.msg);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	fw_free(f);
}

Test(fw_opnsense, a_slow_apply_never_blocks_the_loop)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	fwt_fake_config(&fk, "{\"reconfigure_delay\":2}");
	struct fwt_done d = {0};
	char err[256];
	cr_assert_eq(fw_add(f, "pypi.org", NULL, fwt_done_cb, &d, err, sizeof(err)), 0);
	struct fwt_stats stats = {0};
	/* one second into the apply: still pending, the loop turning */
	cr_assert(!fwt_run(f, &d.called, 1000, &stats));
	cr_assert(!d.called);
	cr_assert_gt(stats.steps, 1);
	struct pollfd fds[FW_POLL_FDS];
	uint64_t dl;
	size_t n = fw_poll(f, fds, FW_POLL_FDS, &dl);
	cr_assert_geq(n, 1, "waiting for the apply's answer: its socket must be polled");
	/* other requests queue behind it meanwhile */
	struct fwt_done d2 = {0};
	cr_assert_eq(fw_add(f, "files.pythonhosted.org", NULL, fwt_done_cb, &d2, err, sizeof(err)), 0);
	cr_assert(fwt_run(f, &d2.called, 15000, &stats));
	cr_assert(d.called, "one writer: the first finishes first");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_eq(d2.rc, 0, "%s", d2.msg);
	/* far below the apply's 2 s (the margin is for fsyncs on a loaded
	 * disk: the audit and the apply-pending flag) */
	cr_assert_lt(stats.max_call_us, 500000, "a call into fw blocked for %llu us",
		     (unsigned long long)stats.max_call_us);
	fw_free(f);
}

Test(fw_opnsense, an_apply_timeout_is_not_retried_blindly)
{
	struct opn_cfg c = {.apply_timeout_s = 1};
	struct fw *f = new_fw(&c);
	settle(f);
	fwt_fake_config(&fk, "{\"reconfigure_delay\":3}");
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -ETIMEDOUT, "%d %s", d.rc, d.msg);
	cr_assert_eq(access(flag, F_OK), 0);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "reconfigure"), 0, "the fake logs a call when it answers");
	cJSON_Delete(st);
	fw_free(f);
}

Test(fw_opnsense, a_crash_between_save_and_apply_is_repaired_at_start)
{
	fwt_fake_config(&fk, "{\"reconfigure_delay\":30}");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct fw *f;
		char err[256];
		struct opn_cfg c = {.apply_timeout_s = 60};
		if (try_new(&c, &f, err, sizeof(err)) < 0)
			_exit(2);
		struct fwt_done d = {0};
		fw_add(f, "pypi.org", NULL, fwt_done_cb, &d, err, sizeof(err));
		fwt_run(f, &d.called, 60000, NULL);
		_exit(3);
	}
	/* wait for the save, then kill the relay in the middle of the apply */
	bool saved = false;
	for (int i = 0; i < 200 && !saved; i++) {
		cJSON *st = fwt_fake_state(&fk);
		saved = fwt_calls(st, "set_item") == 1;
		cJSON_Delete(st);
		if (!saved)
			nanosleep(&(struct timespec){0, 50000000}, NULL);
	}
	cr_assert(saved, "the child never saved");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_eq(access(flag, F_OK), 0, "the flag must be on disk before the apply");
	cJSON *st = fwt_fake_state(&fk);
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "", "applied although killed");
	free(pf);
	cJSON_Delete(st);

	fwt_fake_config(&fk, "{\"reconfigure_delay\":0}");
	logged.n = 0;
	struct fw *f = new_fw(NULL);
	cr_assert_geq(logged.n, 1, "the interrupted apply was not reported");
	settle(f);
	cr_assert_neq(access(flag, F_OK), 0);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223,2a04:4e42::223");
	free(pf);
	cJSON_Delete(st);
	cr_assert_eq(fw_is_allowed(f, "pypi.org"), 1);
	fw_free(f);
	char *a = fwt_read_file(audit_path);
	cr_assert_not_null(strstr(a, "applied now"), "%s", a);
	free(a);
}

Test(fw_opnsense, a_stale_uuid_is_looked_up_again)
{
	struct fw *f = new_fw(NULL);
	settle(f);
	/* the alias is deleted and created again: a new uuid */
	char *r = NULL;
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/alias", JSON,
			      "{\"name\":\"" ALIAS "\",\"delete\":true}", NULL, &r, NULL), 200);
	free(r);
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/alias", JSON,
			      "{\"name\":\"" ALIAS "\",\"type\":\"host\",\"content\":\"\"}", NULL, &r, NULL),
		     200);
	free(r);
	reset_calls();
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "get_alias_u_u_i_d"), 1);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "pypi.org");
	cJSON_Delete(st);
	fw_free(f);
}

Test(fw_opnsense, a_missing_or_wrong_alias_is_an_error)
{
	struct opn_cfg missing = {.alias = "no_such_alias"};
	struct fw *f = new_fw(&missing);
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -ENOENT, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "does not exist"), "%s", d.msg);
	fw_free(f);

	char *r = NULL;
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/alias", JSON,
			      "{\"name\":\"net_alias\",\"type\":\"network\",\"content\":\"10.0.0.0/8\"}",
			      NULL, &r, NULL), 200);
	free(r);
	struct opn_cfg net = {.alias = "net_alias"};
	f = new_fw(&net);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EINVAL, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "Host(s)"), "%s", d.msg);
	fw_free(f);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, "net_alias"), "10.0.0.0/8", "another alias was written");
	cJSON_Delete(st);

	/* a disabled alias would take the approval and enforce nothing */
	cr_assert_eq(fwt_http(&fk, "POST", "/__fake/alias", JSON,
			      "{\"name\":\"" ALIAS "\",\"set\":{\"enabled\":\"0\"}}", NULL, &r, NULL),
		     200);
	free(r);
	f = new_fw(NULL);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EINVAL, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "disabled"), "%s", d.msg);
	fw_free(f);
}

Test(fw_opnsense, tls_is_verified_unless_insecure_is_explicit)
{
	struct opn_cfg sys = {.no_ca = true};
	struct fw *f = new_fw(&sys);
	struct fwt_done d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, -EPROTO, "%d %s", d.rc, d.msg);
	cr_assert_not_null(strstr(d.msg, "TLS"), "%s", d.msg);
	cr_assert_not_null(strstr(d.msg, "CA file"), "%s", d.msg);
	fw_free(f);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_eq(fwt_calls(st, "set_item"), 0);
	cJSON_Delete(st);

	logged.n = 0;
	struct opn_cfg ins = {.no_ca = true, .insecure = true};
	f = new_fw(&ins);
	cr_assert_eq(logged.n, 1);
	cr_assert_not_null(strstr(logged.last, "TLS verification"), "%s", logged.last);
	d = run_add(f, "pypi.org");
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	fw_free(f);
	cr_assert_eq(fwt_audit_count(audit_path, "notice", NULL), 1);
}

Test(fw_opnsense, bad_options_are_refused_at_start)
{
	struct fw *f;
	char err[256];
	struct fw_opts o = {.kind = FW_BACKEND_OPNSENSE, .state_dir = state,
			    .opnsense = {.url = "http://127.0.0.1:1", .key = "k", .secret = "s",
					 .alias = ALIAS}};
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "https://"), "%s", err);
	o.opnsense.url = "https://user:pw@127.0.0.1:1";
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	o.opnsense.url = fk.url;
	o.opnsense.alias = "bad-name";
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "alias"), "%s", err);
	o.opnsense.alias = ALIAS;
	o.opnsense.secret = "";
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	o.opnsense.secret = "s";
	o.state_dir = NULL;
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "state directory"), "%s", err);
	o.state_dir = state;
	o.opnsense.ca_file = "/nonexistent/ca.pem";
	cr_assert_eq(fw_new(&o, &f, err, sizeof(err)), -ENOENT);
}
