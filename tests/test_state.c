/* test_state.c — the persistent state store: atomic writes that survive a
 * killed relay, corrupt files moved aside (never silently discarded). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_file.h"
#include "sr_state.h"

static char dir[256];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/smrelay-state-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[512];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int count_files(const char *prefix)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

TestSuite(state, .init = make_dir, .fini = remove_dir);

Test(state, round_trip_and_permissions)
{
	struct sr_state *st;
	char err[256];
	cr_assert_eq(sr_state_open(dir, &st, NULL, err, sizeof(err)), 0, "%s", err);
	cJSON *s = sr_state_section(st, "sessions");
	cJSON *rec = cJSON_AddObjectToObject(s, "s1");
	cJSON_AddStringToObject(rec, "project", "acme/api");
	cr_assert_eq(sr_state_save(st, err, sizeof(err)), 0, "%s", err);
	sr_state_close(st);

	struct stat sb;
	char path[512];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "state file mode %o", sb.st_mode & 0777);
	cr_assert_eq(count_files("state.json.tmp"), 0, "temporary files left behind");

	cr_assert_eq(sr_state_open(dir, &st, NULL, err, sizeof(err)), 0, "%s", err);
	cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(sr_state_section(st, "sessions"), "s1"),
				       "project");
	cr_assert_str_eq(cJSON_GetStringValue(p), "acme/api");
	sr_state_close(st);
}

Test(state, creates_the_directory_private)
{
	char sub[400];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	struct sr_state *st;
	char err[256];
	cr_assert_eq(sr_state_open(sub, &st, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_state_save(st, err, sizeof(err)), 0, "%s", err);
	sr_state_close(st);
	struct stat sb;
	cr_assert_eq(stat(sub, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	char f[512];
	snprintf(f, sizeof(f), "%s/state.json", sub);
	unlink(f);
	rmdir(sub);
	snprintf(f, sizeof(f), "%s/a", dir);
	rmdir(f);
}

Test(state, relative_directory_is_refused)
{
	struct sr_state *st;
	char err[256];
	cr_assert_eq(sr_state_open("state", &st, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "absolute"), "%s", err);
}

static void corrupt_case(const char *content, const char *why)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *f = fopen(path, "w");
	fputs(content, f);
	fclose(f);
	struct sr_state *st;
	char err[256], *warning = NULL;
	cr_assert_eq(sr_state_open(dir, &st, &warning, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(warning, "corrupt state (%s) reported nothing", why);
	cr_assert_not_null(strstr(warning, "moved to"), "%s", warning);
	cr_assert_eq(count_files("state.json.corrupt-"), 1, "the corrupt file must be kept");
	/* the store starts empty and is usable */
	cr_assert_not_null(sr_state_section(st, "sessions"));
	cr_assert_eq(sr_state_save(st, err, sizeof(err)), 0);
	free(warning);
	sr_state_close(st);
	/* the kept copy is byte for byte what was there */
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "state.json.corrupt-", 19) != 0)
			continue;
		char p[600];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		char *kept = sr_read_file(p, NULL);
		cr_assert_str_eq(kept, content);
		free(kept);
	}
	closedir(d);
}

Test(state, truncated_json_is_moved_aside) { corrupt_case("{\"version\": 1, \"sess", "truncated"); }
Test(state, wrong_version_is_moved_aside) { corrupt_case("{\"version\": 99}", "version"); }
Test(state, non_object_is_moved_aside) { corrupt_case("[1,2,3]", "array"); }
Test(state, empty_file_is_moved_aside) { corrupt_case("", "empty"); }

/* A relay killed with SIGKILL in the middle of saving must leave either the
 * old or the new state, never a torn file. */
Test(state, sigkill_during_saves_never_tears_the_file)
{
	int saved = 0;
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct sr_state *st;
			char err[256];
			if (sr_state_open(dir, &st, NULL, err, sizeof(err)) < 0)
				_exit(1);
			cJSON *s = sr_state_section(st, "sessions");
			for (int i = 0;; i++) {
				char id[32];
				snprintf(id, sizeof(id), "s%d", i);
				cJSON *rec = cJSON_AddObjectToObject(s, id);
				cJSON_AddStringToObject(rec, "payload",
							"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
				if (sr_state_save(st, err, sizeof(err)) < 0)
					_exit(2);
			}
		}
		struct timespec ts = {0, (2000 + round * 1500) * 1000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		struct sr_state *st;
		char err[256], *warning = NULL;
		cr_assert_eq(sr_state_open(dir, &st, &warning, err, sizeof(err)), 0, "%s", err);
		cr_assert_null(warning, "round %d: %s", round, warning ? warning : "");
		saved += cJSON_GetArraySize(sr_state_section(st, "sessions")) > 0;
		sr_state_close(st);
	}
	cr_assert_gt(saved, 0, "no save ever completed: the test proved nothing");
	cr_assert_eq(count_files("state.json.tmp."), 0, "opening removes unfinished writes");
}
