/* test_fw_fake.c — the fake OPNsense's own tests: each behaviour of the
 * reference's fake-server list (/work/shared/reference/opnsense.md),
 * asserted through real HTTPS requests, so the OPNsense backend's tests
 * stand on a fake that behaves like the real API. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_fw_support.h"

#define ADMIN "admin-key:admin-secret"
#define JSON "application/json"
#define ALIAS "llm_approved_domains"

static struct fwt_fake fk;

static void setup(void)
{
	fwt_fake_start(&fk);
}

static void teardown(void)
{
	fwt_fake_stop(&fk);
}

TestSuite(fw_fake, .init = setup, .fini = teardown);

/* A request whose JSON answer is parsed; *code gets the status. */
static cJSON *call(const char *method, const char *path, const char *ctype, const char *body,
		   const char *auth, long *code)
{
	char *r = NULL;
	*code = fwt_http(&fk, method, path, ctype, body, auth, &r, NULL);
	cJSON *j = cJSON_Parse(r);
	free(r);
	return j;
}

static char *raw(const char *method, const char *path, const char *ctype, const char *body,
		 const char *auth, long *code, char **ct)
{
	char *r = NULL;
	*code = fwt_http(&fk, method, path, ctype, body, auth, &r, ct);
	return r;
}

static const char *str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void uuid_of(const char *name, char *out, size_t len)
{
	long code;
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/get_alias_u_u_i_d/%s", name);
	cJSON *j = call("GET", path, NULL, NULL, ADMIN, &code);
	cr_assert_eq(code, 200);
	cr_assert_not_null(str(j, "uuid"));
	snprintf(out, len, "%s", str(j, "uuid"));
	cJSON_Delete(j);
}

static cJSON *set_item(const char *uuid, const char *body, const char *auth, long *code)
{
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/set_item/%s", uuid);
	return call("POST", path, JSON, body, auth, code);
}

Test(fw_fake, routing_accepts_both_spellings)
{
	char u1[80], u2[80];
	uuid_of(ALIAS, u1, sizeof(u1));
	long code;
	cJSON *j = call("GET", "/api/firewall/alias/getAliasUUID/" ALIAS, NULL, NULL, ADMIN, &code);
	cr_assert_eq(code, 200);
	snprintf(u2, sizeof(u2), "%s", str(j, "uuid"));
	cJSON_Delete(j);
	cr_assert_str_eq(u1, u2);
	const char *gets[] = {"get_item", "getItem"};
	for (int i = 0; i < 2; i++) {
		char path[200];
		snprintf(path, sizeof(path), "/api/firewall/alias/%s/%s", gets[i], u1);
		j = call("GET", path, NULL, NULL, ADMIN, &code);
		cr_assert_eq(code, 200, "%s", gets[i]);
		cr_assert_str_eq(str(cJSON_GetObjectItem(j, "alias"), "name"), ALIAS);
		cJSON_Delete(j);
	}
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/setItem/%s", u1);
	j = call("POST", path, JSON, "{\"alias\":{\"content\":\"a.example\"}}", ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "saved");
	cJSON_Delete(j);
	j = call("GET", "/api/firewall/alias/searchItem?searchPhrase=LLM_APPROVED", NULL, NULL, ADMIN,
		 &code);
	cr_assert_eq(code, 200);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "rowCount")), 1);
	const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0);
	cr_assert_str_eq(str(row, "content"), "a.example", "search_item gives the raw string");
	cr_assert_str_eq(str(row, "type"), "host");
	cr_assert_str_eq(str(row, "%type"), "Host(s)");
	cJSON_Delete(j);
}

Test(fw_fake, routing_fails_before_auth)
{
	long code;
	char *ct = NULL;
	char *b = raw("GET", "/api/firewall/alias/no_such_action", NULL, NULL, NULL, &code, &ct);
	cr_assert_eq(code, 404);
	cr_assert_str_eq(b, "{\"errorMessage\":\"Endpoint not found\"}");
	cr_assert_str_eq(ct, "application/json;charset=utf-8");
	free(b);
	free(ct);
	const char *missing[] = {"/api/firewall/alias/set_item", "/api/firewall/alias/get_alias_u_u_i_d",
				 "/api/firewall/nothing/get_item/x", "/api/firewall/alias_util/list"};
	for (size_t i = 0; i < 4; i++) {
		b = raw("POST", missing[i], JSON, "{}", "bad:creds", &code, NULL);
		cr_assert_eq(code, 404, "%s", missing[i]);
		free(b);
	}
}

Test(fw_fake, authentication_and_acls)
{
	long code;
	char *ct = NULL;
	const char *p = "/api/firewall/alias/get_alias_u_u_i_d/" ALIAS;
	char *b = raw("GET", p, NULL, NULL, NULL, &code, &ct);
	cr_assert_eq(code, 401);
	cr_assert_str_eq(b, "", "no Authorization header: an empty body");
	free(b);
	free(ct);
	b = raw("GET", p, NULL, NULL, "admin-key:wrong", &code, NULL);
	cr_assert_eq(code, 401);
	cr_assert_str_eq(b, "{\"status\":401,\"message\":\"Authentication Failed\"}");
	free(b);
	b = raw("GET", p, NULL, NULL, "unknown:admin-secret", &code, NULL);
	cr_assert_eq(code, 401);
	free(b);
	b = raw("GET", p, NULL, NULL, "noacl-key:noacl-secret", &code, NULL);
	cr_assert_eq(code, 403);
	cr_assert_str_eq(b, "{\"status\":403,\"message\":\"Forbidden\"}");
	free(b);
	/* the read-only privilege covers get* but not set_item or reconfigure */
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	b = raw("GET", p, NULL, NULL, "ro-key:ro-secret", &code, &ct);
	cr_assert_eq(code, 200);
	cr_assert_str_eq(ct, "application/json; charset=UTF-8");
	free(ct);
	free(b);
	cJSON *j = set_item(u, "{\"alias\":{\"content\":\"a.example\"}}", "ro-key:ro-secret", &code);
	cr_assert_eq(code, 403);
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", "ro-key:ro-secret", &code);
	cr_assert_eq(code, 403);
	cJSON_Delete(j);
	j = call("GET", p, NULL, NULL, "util-key:util-secret", &code);
	cr_assert_eq(code, 403, "alias_util privilege does not cover the alias API");
	cJSON_Delete(j);
	/* a read-only user passes the ACL but cannot save */
	j = set_item(u, "{\"alias\":{\"content\":\"a.example\"}}", "rouser-key:rouser-secret", &code);
	cr_assert_eq(code, 500);
	cr_assert_str_eq(str(j, "errorMessage"),
			 "User auditor denied for write access (user-config-readonly set)");
	cr_assert_str_eq(str(j, "errorTitle"), "General access");
	cr_assert_str_eq(str(j, "errorLevel"), "error");
	cJSON_Delete(j);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "", "a refused write stored something");
	cJSON_Delete(st);
}

Test(fw_fake, get_item_content_is_a_map_with_every_alias)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/get_item/%s", u);
	cJSON *j = call("GET", path, NULL, NULL, ADMIN, &code);
	const cJSON *a = cJSON_GetObjectItem(j, "alias");
	const cJSON *type = cJSON_GetObjectItem(a, "type");
	const cJSON *host = cJSON_GetObjectItem(type, "host");
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(host, "selected")), "selected is an integer");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(host, "selected")), 1);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(type, "network"),
							      "selected")), 0);
	cr_assert_str_eq(str(a, "enabled"), "1");
	cr_assert(cJSON_IsArray(cJSON_GetObjectItem(a, "categories")), "empty map encoded as []");
	const cJSON *content = cJSON_GetObjectItem(a, "content");
	const cJSON *empty = cJSON_GetObjectItem(content, "");
	cr_assert_not_null(empty, "empty content is the key \"\"");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(empty, "selected")), 1);
	const cJSON *bogons = cJSON_GetObjectItem(content, "bogons");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(bogons, "selected")), 0);
	cr_assert_not_null(str(bogons, "description"));
	cr_assert_null(cJSON_GetObjectItem(content, ALIAS), "not itself");
	cJSON_Delete(j);

	cJSON *s = set_item(u, "{\"alias\":{\"content\":\"b.example\\na.example\\nb.example\"}}", ADMIN,
			    &code);
	cr_assert_str_eq(str(s, "result"), "saved");
	cJSON_Delete(s);
	j = call("GET", path, NULL, NULL, ADMIN, &code);
	content = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "alias"), "content");
	/* selected items first, in content order, duplicates collapsed */
	const cJSON *first = content->child;
	cr_assert_str_eq(first->string, "b.example");
	cr_assert_str_eq(first->next->string, "a.example");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(first->next->next, "selected")), 0);
	cJSON_Delete(j);

	/* an unknown uuid (or a name) in 26.7+: 200 and no name */
	j = call("GET", "/api/firewall/alias/get_item/" ALIAS, NULL, NULL, ADMIN, &code);
	cr_assert_eq(code, 200);
	a = cJSON_GetObjectItem(j, "alias");
	cr_assert_null(cJSON_GetObjectItem(a, "name"));
	cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "content"), "bogons"));
	cJSON_Delete(j);
	/* ≤ 26.1 answered 500 */
	fwt_fake_config(&fk, "{\"legacy_get_item\":true}");
	j = call("GET", "/api/firewall/alias/get_item/00000000-0000-4000-8000-000000000000", NULL,
		 NULL, ADMIN, &code);
	cr_assert_eq(code, 500);
	cr_assert_str_eq(str(j, "errorMessage"), "Unexpected error, check log for details");
	cJSON_Delete(j);
}

Test(fw_fake, uuid_lookup_is_exact)
{
	long code;
	char *b = raw("GET", "/api/firewall/alias/get_alias_u_u_i_d/LLM_APPROVED_DOMAINS", NULL, NULL,
		      ADMIN, &code, NULL);
	cr_assert_eq(code, 200);
	cr_assert_str_eq(b, "[]", "not found is an empty JSON array");
	free(b);
	b = raw("GET", "/api/firewall/alias/get_alias_u_u_i_d/bogons", NULL, NULL, ADMIN, &code, NULL);
	cr_assert_str_eq(b, "{\"uuid\":\"bogons\"}", "built-in aliases are keyed by name");
	free(b);
}

Test(fw_fake, set_item_results_and_validation)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/set_item/%s", u);
	cJSON *j = call("GET", path, NULL, NULL, ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "failed", "GET");
	cJSON_Delete(j);
	j = set_item(u, "{\"other\":1}", ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "failed", "no alias key");
	cJSON_Delete(j);
	j = set_item(u, "{\"alias\":", ADMIN, &code);
	cr_assert_eq(code, 200);
	cr_assert_str_eq(str(j, "result"), "failed", "malformed JSON is no fields");
	cJSON_Delete(j);
	char *b = raw("POST", path, JSON, "", ADMIN, &code, NULL);
	cr_assert_eq(code, 400);
	cr_assert_str_eq(b, "{\"status\":400,\"message\":\"Invalid JSON syntax\"}");
	free(b);
	j = set_item("not-a-uuid", "{\"alias\":{\"content\":\"a.example\"}}", ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "failed");
	cr_assert_null(cJSON_GetObjectItem(j, "validations"));
	cJSON_Delete(j);
	j = set_item("0b7e3a3c-1111-4222-8333-444455556666", "{\"alias\":{\"content\":\"a.example\"}}",
		     ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "failed", "upsert of a new uuid without a name");
	cr_assert_str_eq(str(cJSON_GetObjectItem(j, "validations"), "alias.name"),
			 "A value is required.");
	cJSON_Delete(j);
	j = set_item(u, "{\"alias\":{\"content\":[\"a.example\"]}}", ADMIN, &code);
	cr_assert_eq(code, 500, "content must be a string");
	cr_assert_str_eq(str(j, "errorMessage"), "Unexpected error, check log for details");
	cJSON_Delete(j);

	j = set_item(u, "{\"alias\":{\"content\":\"foo_bar.com\"}}", ADMIN, &code);
	cr_assert_eq(code, 200);
	cr_assert_str_eq(str(j, "result"), "failed");
	cr_assert_str_eq(str(cJSON_GetObjectItem(j, "validations"), "alias.content"),
			 "Entry \"foo_bar.com\" is not a valid hostname, IP address or range.");
	cJSON_Delete(j);
	j = set_item(u, "{\"alias\":{\"content\":\"foo.com.\\n1.2.3\\n10.0.0.0/24\\n*.foo.com\\n\"}}",
		     ADMIN, &code);
	const cJSON *msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "validations"), "alias.content");
	cr_assert(cJSON_IsArray(msgs), "several messages become an array");
	cr_assert_eq(cJSON_GetArraySize(msgs), 5, "trailing newline = an empty entry");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(msgs, 4)),
			 "Entry \"\" is not a valid hostname, IP address or range.");
	cJSON_Delete(j);
	/* valid items: stored verbatim, no case folding; partial update */
	j = set_item(u,
		     "{\"alias\":{\"content\":\"API.OpenAI.com\\n192.0.2.1\\n10.0.0.1-10.0.0.9\\n!192.0.2.7\\nbogons\\nabc.123\"}}",
		     ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "saved");
	cJSON_Delete(j);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS),
			 "API.OpenAI.com\n192.0.2.1\n10.0.0.1-10.0.0.9\n!192.0.2.7\nbogons\nabc.123");
	const cJSON *al;
	cJSON_ArrayForEach(al, cJSON_GetObjectItem(st, "aliases"))
		cr_assert_str_eq(str(al, "description"), "smrelay approvals", "partial update");
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "", "saved changes config only, not the pf table");
	free(pf);
	cJSON_Delete(st);
	/* form encoding works too */
	b = raw("POST", path, "application/x-www-form-urlencoded", "alias%5Bcontent%5D=form.example",
		ADMIN, &code, NULL);
	cr_assert_str_eq(b, "{\"result\":\"saved\"}");
	free(b);
}

Test(fw_fake, reconfigure_resolves_into_the_pf_table)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	fwt_fake_config(&fk, "{\"dns\":{\"pypi.org\":[\"151.101.0.223\",\"2a04:4e42::223\"],"
			     "\"api.openai.com\":[\"162.159.140.245\"]}}");
	cJSON *j = set_item(u, "{\"alias\":{\"content\":\"pypi.org\\napi.openai.com\\nnx.example\"}}",
			    ADMIN, &code);
	cJSON_Delete(j);
	j = call("GET", "/api/firewall/alias/reconfigure", NULL, NULL, ADMIN, &code);
	cr_assert_str_eq(str(j, "status"), "failed", "GET does not apply");
	cJSON_Delete(j);
	cJSON *st = fwt_fake_state(&fk);
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	free(pf);
	cJSON_Delete(st);
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cr_assert_str_eq(str(j, "status"), "ok");
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223,162.159.140.245,2a04:4e42::223",
			 "A and AAAA; unknown names add nothing");
	free(pf);
	cJSON_Delete(st);
	/* a disabled alias empties its table */
	j = set_item(u, "{\"alias\":{\"enabled\":\"0\"}}", ADMIN, &code);
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	free(pf);
	cJSON_Delete(st);
	/* all names failing flushes it too */
	j = set_item(u, "{\"alias\":{\"enabled\":\"1\",\"content\":\"nx.example\"}}", ADMIN, &code);
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	free(pf);
	cJSON_Delete(st);
}

Test(fw_fake, reconfigure_injections)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	fwt_fake_config(&fk, "{\"dns\":{\"pypi.org\":[\"151.101.0.223\"]}}");
	cJSON *j = set_item(u, "{\"alias\":{\"content\":\"pypi.org\"}}", ADMIN, &code);
	cJSON_Delete(j);
	/* 500 from pf */
	fwt_fake_config(&fk, "{\"reconfigure_fail\":1}");
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cr_assert_eq(code, 500);
	cr_assert_str_eq(str(j, "errorTitle"), "Alias");
	cr_assert_not_null(strstr(str(j, "errorMessage"), "Error loading alias [" ALIAS "]"));
	cJSON_Delete(j);
	/* the lock is busy: ok, but nothing applied until the cron tick */
	fwt_fake_config(&fk, "{\"lock_busy\":true}");
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cr_assert_str_eq(str(j, "status"), "ok");
	cJSON_Delete(j);
	cJSON *st = fwt_fake_state(&fk);
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "pending_cron")));
	free(pf);
	cJSON_Delete(st);
	j = call("POST", "/__fake/cron", JSON, "{}", NULL, &code);
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "151.101.0.223");
	free(pf);
	cJSON_Delete(st);
	/* a delay */
	fwt_fake_config(&fk, "{\"lock_busy\":false,\"reconfigure_delay\":1}");
	time_t t0 = time(NULL);
	j = call("POST", "/api/firewall/alias/reconfigure", JSON, "{}", ADMIN, &code);
	cr_assert_str_eq(str(j, "status"), "ok");
	cr_assert_geq(time(NULL) - t0, 1);
	cJSON_Delete(j);
	/* a dropped connection and a malformed answer */
	fwt_fake_config(&fk, "{\"drop\":{\"get_alias_u_u_i_d\":1},\"malformed\":{\"get_item\":1}}");
	char *b = raw("GET", "/api/firewall/alias/get_alias_u_u_i_d/" ALIAS, NULL, NULL, ADMIN, &code,
		      NULL);
	cr_assert_eq(code, 0, "dropped without an answer");
	free(b);
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/get_item/%s", u);
	b = raw("GET", path, NULL, NULL, ADMIN, &code, NULL);
	cr_assert_eq(code, 200);
	cJSON *bad = cJSON_Parse(b);
	cr_assert_null(bad, "malformed JSON parsed: %s", b);
	free(b);
	b = raw("GET", path, NULL, NULL, ADMIN, &code, NULL);
	bad = cJSON_Parse(b);
	cr_assert_not_null(bad, "the injection is used up after one request");
	cJSON_Delete(bad);
	free(b);
	/* an answer broken off mid-body, after the work was done */
	fwt_fake_config(&fk, "{\"cut_after\":{\"set_item\":1}}");
	char sp[200];
	snprintf(sp, sizeof(sp), "/api/firewall/alias/set_item/%s", u);
	b = raw("POST", sp, JSON, "{\"alias\":{\"content\":\"cut.example\"}}", ADMIN, &code, NULL);
	cr_assert_eq(code, 0, "a cut answer must fail the transfer");
	free(b);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "cut.example", "cut_after does the work");
	cJSON_Delete(st);
}

Test(fw_fake, php_json_encoding)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	cJSON *j = set_item(u, "{\"alias\":{\"description\":\"b\\u00fccher/approved\"}}", ADMIN, &code);
	cr_assert_str_eq(str(j, "result"), "saved");
	cJSON_Delete(j);
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/get_item/%s", u);
	char *b = raw("GET", path, NULL, NULL, ADMIN, &code, NULL);
	cr_assert_not_null(strstr(b, "\"description\":\"b\\u00fccher\\/approved\""), "%.300s", b);
	free(b);
}

Test(fw_fake, no_compare_and_swap_loses_an_update)
{
	char u[80];
	uuid_of(ALIAS, u, sizeof(u));
	long code;
	char path[200];
	snprintf(path, sizeof(path), "/api/firewall/alias/get_item/%s", u);
	/* two clients read the same (empty) content ... */
	cJSON *ra = call("GET", path, NULL, NULL, ADMIN, &code);
	cJSON *rb = call("GET", path, NULL, NULL, ADMIN, &code);
	cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ra, "alias"),
								      "content"), ""));
	cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rb, "alias"),
								      "content"), ""));
	cJSON_Delete(ra);
	cJSON_Delete(rb);
	/* ... and each writes its own addition: both "succeed" */
	cJSON *wa = set_item(u, "{\"alias\":{\"content\":\"a.example\"}}", ADMIN, &code);
	cJSON *wb = set_item(u, "{\"alias\":{\"content\":\"b.example\"}}", ADMIN, &code);
	cr_assert_str_eq(str(wa, "result"), "saved");
	cr_assert_str_eq(str(wb, "result"), "saved");
	cJSON_Delete(wa);
	cJSON_Delete(wb);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "b.example", "a.example was lost: last writer wins");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(st, "revisions")), 2);
	cJSON_Delete(st);
}

Test(fw_fake, alias_util_endpoints)
{
	const char *U = "util-key:util-secret";
	long code;
	cJSON *j = call("POST", "/api/firewall/alias_util/add/" ALIAS, JSON,
			"{\"address\":\"api.openai.com\"}", U, &code);
	cr_assert_str_eq(str(j, "status"), "not_an_address", "hostnames are refused");
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias_util/add/nosuch", JSON, "{\"address\":\"192.0.2.1\"}", U,
		 &code);
	cr_assert_str_eq(str(j, "status"), "failed");
	cr_assert_str_eq(str(j, "status_msg"), "nonexistent alias nosuch");
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias_util/add/" ALIAS, JSON, "{\"address\":\"192.0.2.1\"}", U,
		 &code);
	cr_assert_str_eq(str(j, "status"), "done");
	cJSON_Delete(j);
	j = call("GET", "/api/firewall/alias_util/add/" ALIAS, NULL, NULL, U, &code);
	cr_assert_str_eq(str(j, "status"), "failed", "not a POST");
	cJSON_Delete(j);
	cJSON *st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "192.0.2.1", "host aliases persist it");
	cJSON_Delete(st);
	j = call("GET", "/api/firewall/alias_util/list/" ALIAS, NULL, NULL, U, &code);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total")), 1);
	cr_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0), "ip"), "192.0.2.1");
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias_util/find_references", JSON, "{\"ip\":\"192.0.2.1\"}", U,
		 &code);
	cr_assert_str_eq(str(j, "status"), "ok");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "matches"), 0)),
			 ALIAS);
	cJSON_Delete(j);
	const char *bad[][2] = {{"{\"ip\":\"evil.com\"}", "Not an IP address!"},
				{"{\"ip\":\"1.2.3.999\"}", "Invalid IP specified!"},
				{"{}", "IP parameter not specified!"}};
	for (int i = 0; i < 3; i++) {
		j = call("POST", "/api/firewall/alias_util/find_references", JSON, bad[i][0], U, &code);
		cr_assert_str_eq(str(j, "status"), bad[i][1]);
		cJSON_Delete(j);
	}
	/* flush is runtime only */
	j = call("POST", "/api/firewall/alias_util/flush/" ALIAS, JSON, "{}", U, &code);
	cr_assert_str_eq(str(j, "status"), "done");
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "192.0.2.1");
	char *pf = fwt_pf_table(st, ALIAS);
	cr_assert_str_eq(pf, "");
	free(pf);
	cJSON_Delete(st);
	j = call("POST", "/api/firewall/alias_util/delete/" ALIAS, JSON, "{\"address\":\"192.0.2.1\"}",
		 U, &code);
	cr_assert_str_eq(str(j, "status"), "done");
	cJSON_Delete(j);
	j = call("POST", "/api/firewall/alias_util/delete/nosuch", JSON, "{\"address\":\"192.0.2.1\"}",
		 U, &code);
	cr_assert_str_eq(str(j, "status"), "done", "even for an unknown alias");
	cJSON_Delete(j);
	st = fwt_fake_state(&fk);
	cr_assert_str_eq(fwt_alias_content(st, ALIAS), "");
	cJSON_Delete(st);
	char *b = raw("GET", "/api/firewall/alias_util/aliases", NULL, NULL, U, &code, NULL);
	cr_assert_eq(code, 200);
	cr_assert_not_null(strstr(b, "\"" ALIAS "\""), "%s", b);
	free(b);
}

Test(fw_fake, firewall_log_newest_first_with_digest)
{
	long code;
	cJSON *j = call("POST", "/__fake/log", JSON,
			"{\"records\":[{\"action\":\"block\",\"src\":\"10.9.0.2\",\"dst\":\"192.0.2.1\","
			"\"dstport\":443},{\"action\":\"pass\",\"src\":\"10.9.0.2\",\"dst\":\"192.0.2.2\"},"
			"{\"action\":\"block\",\"src\":\"10.9.0.3\",\"dst\":\"192.0.2.3\"}]}",
			NULL, &code);
	cJSON_Delete(j);
	const char *L = "/api/diagnostics/firewall/log";
	j = call("GET", L, NULL, NULL, ADMIN, &code);
	cr_assert_eq(code, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 3);
	const cJSON *newest = cJSON_GetArrayItem(j, 0);
	cr_assert_str_eq(str(newest, "dst"), "192.0.2.3");
	const cJSON *oldest = cJSON_GetArrayItem(j, 2);
	cr_assert_str_eq(str(oldest, "dstport"), "443", "values are strings");
	char digest[64];
	snprintf(digest, sizeof(digest), "%s", str(cJSON_GetArrayItem(j, 1), "__digest__"));
	cJSON_Delete(j);
	char path[200];
	snprintf(path, sizeof(path), "%s?digest=%s", L, digest);
	j = call("GET", path, NULL, NULL, ADMIN, &code);
	cr_assert_eq(cJSON_GetArraySize(j), 2, "up to and including the digest record");
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "%s?limit=1", L);
	j = call("GET", path, NULL, NULL, ADMIN, &code);
	cr_assert_eq(cJSON_GetArraySize(j), 1);
	cJSON_Delete(j);
	char *b = raw("POST", L, JSON, "{}", ADMIN, &code, NULL);
	cr_assert_eq(code, 200);
	cr_assert_str_eq(b, "", "a non-GET returns null: an empty 200");
	free(b);
	j = call("GET", L, NULL, NULL, "ro-key:ro-secret", &code);
	cr_assert_eq(code, 403);
	cJSON_Delete(j);
}
