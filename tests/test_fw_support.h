/* test_fw_support.h — helpers for the firewall tests: temporary
 * directories, the fake OPNsense server (tests/fake_opnsense) on a free
 * loopback port over HTTPS with a throwaway certificate, plain HTTP calls
 * to it (libcurl, blocking: tests only), and a loop that runs an fw to
 * completion with poll(2) on fw_poll's fds. Failures assert. */
#ifndef TEST_FW_SUPPORT_H
#define TEST_FW_SUPPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fw.h"

/* mkdtemp under /tmp; removed (recursively) by fwt_rmtree. */
void fwt_tmpdir(char *buf, size_t len, const char *tag);
void fwt_rmtree(const char *dir);

/* Writes text to path (mode 0700 when exec). */
void fwt_write_file(const char *path, const char *text, bool exec);
/* The whole file, malloc'ed, or NULL. */
char *fwt_read_file(const char *path);

struct fwt_fake {
	pid_t pid;
	int port;
	char dir[256];  /* its certificate and key */
	char ca[320];   /* the self-signed certificate: the CA file to trust */
	char url[64];   /* https://127.0.0.1:<port> */
};

/* Starts the fake on a free port (it picks one and tells us). */
void fwt_fake_start(struct fwt_fake *fk);
/* Stops it and removes its directory. */
void fwt_fake_stop(struct fwt_fake *fk);

/* One request. method "GET"/"POST"; body NULL for none; ctype NULL for no
 * Content-Type; userpwd "key:secret" or NULL (no Authorization header).
 * Returns the HTTP status (0 when the transfer failed); *resp (may be NULL)
 * gets the body and *ctype_out the Content-Type (both malloc'ed). */
long fwt_http(const struct fwt_fake *fk, const char *method, const char *path, const char *ctype,
	      const char *body, const char *userpwd, char **resp, char **ctype_out);

/* POST /__fake/config with json; asserts 200. */
void fwt_fake_config(const struct fwt_fake *fk, const char *json);
/* GET /__fake/state (caller deletes). */
cJSON *fwt_fake_state(const struct fwt_fake *fk);
/* The content string of the alias called name in a state, or NULL. */
const char *fwt_alias_content(const cJSON *state, const char *name);
/* The pf table of name in a state, joined with ',' (malloc'ed). */
char *fwt_pf_table(const cJSON *state, const char *name);
/* How many calls in the state's call log have this action name. */
int fwt_calls(const cJSON *state, const char *action);

/* True while the loop below is inside fw_step: callbacks check it. */
extern bool fwt_in_step;

struct fwt_stats {
	uint64_t max_call_us; /* the longest single fw_poll or fw_step call */
	unsigned steps;
};

/* Runs the loop until *flag turns true or timeout_ms passes; returns
 * whether the flag turned true. stats may be NULL. */
bool fwt_run(struct fw *f, const bool *flag, int timeout_ms, struct fwt_stats *stats);

/* Runs the loop for ms milliseconds whatever happens. */
void fwt_run_for(struct fw *f, int ms);

/* A done callback recording its result into a struct fwt_done. */
struct fwt_done {
	bool called;
	int rc;
	char msg[512];
	bool outside_step; /* set when it was called outside fw_step */
};
void fwt_done_cb(void *data, int rc, const char *msg);

/* A list callback recording into a struct fwt_list. */
struct fwt_list {
	bool called;
	int rc;
	char hosts[1024]; /* joined with ',' */
	size_t n;
};
void fwt_list_cb(void *data, int rc, const char *const *hosts, size_t n, const char *msg);

/* Counts lines of an audit file matching action (and host when not NULL). */
int fwt_audit_count(const char *path, const char *action, const char *host);

#endif
