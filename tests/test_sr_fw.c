/* test_sr_fw.c — the firewall as the daemon drives it (sr_fw): built from
 * SM_* settings, stepped on the loop, and its readiness probe (a list every
 * minute, the first one a second after start). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sr_config.h"
#include "sr_fw.h"
#include "sr_loop.h"

static const char *LIST_CMD;

static const char *get(const char *name)
{
	if (!strcmp(name, "SM_FIREWALL"))
		return "command";
	if (!strcmp(name, "SM_FIREWALL_CMD_ADD"))
		return "true {host}";
	if (!strcmp(name, "SM_FIREWALL_CMD_REMOVE"))
		return "true {host}";
	if (!strcmp(name, "SM_FIREWALL_CMD_LIST"))
		return LIST_CMD;
	if (!strcmp(name, "SM_STATE_DIR"))
		return "/tmp/smrelay-srfw-test";
	return NULL;
}

static int probe(const char *list_cmd, const char **why_out, char *why, size_t len)
{
	LIST_CMD = list_cmd;
	struct sr_config c;
	char err[512];
	cr_assert_eq(sr_config_load(&c, get, err, sizeof(err)), 0, "%s", err);
	struct sr_loop *l = NULL;
	cr_assert_eq(sr_loop_new(&l), 0);
	struct sr_fw *f = NULL;
	cr_assert_eq(sr_fw_new(l, &c, &f, err, sizeof(err)), 0, "%s", err);
	const char *w = NULL;
	cr_assert_eq(sr_fw_ready(f, &w), 1, "ready until a probe says otherwise");
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ready;
	do { /* the first probe runs about a second after start */
		cr_assert_geq(sr_loop_run_once(l, 100), 0);
		ready = sr_fw_ready(f, &w);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (ready && t.tv_sec - t0.tv_sec < 4);
	snprintf(why, len, "%s", w ? w : "");
	*why_out = why;
	sr_fw_free(f);
	sr_loop_free(l);
	sr_config_free(&c);
	if (system("rm -rf /tmp/smrelay-srfw-test") < 0) {
	}
	return ready;
}

Test(sr_fw, readiness_follows_the_backend)
{
	char why[400];
	const char *w = NULL;
	cr_assert_eq(probe("false", &w, why, sizeof(why)), 0, "a failing list must make it unready");
	cr_assert_neq(w[0], '\0', "no reason given");
	cr_assert_eq(probe("true", &w, why, sizeof(why)), 1, "a working list keeps it ready: %s", w);
}
