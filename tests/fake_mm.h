/*
 * fake_mm.h — start, stop and poke the fake Mattermost server
 * (tests/fake_mattermost/server.py, Python 3 + Debian's python3-aiohttp)
 * from criterion tests.
 *
 * fake_mm_start runs `/usr/bin/python3 -B server.py --host 127.0.0.1
 * --port 0 [extra_args]` as a child, waits for its "PORT <n>" line, then
 * reads GET /_fake/seed and fills in the seed ids. The child gets
 * PR_SET_PDEATHSIG (SIGTERM), so a crashed test leaves no server behind;
 * fake_mm_stop sends SIGTERM, waits up to 3 s, then SIGKILLs.
 *
 * Seed data (fixed ids, see fake_mattermost/fm_model.py): team "t1"; bot
 * "claude" (token "bot-token"), "alice" ("alice-token"), "bob"
 * ("bob-token"), "carol" ("carol-token", in no channel); open channel
 * "town" (claude, alice, bob), private channel "other" (claude, bob).
 * Test control: the /_fake/ endpoints, documented in
 * fake_mattermost/README.md.
 *
 * Ownership: the caller owns the struct (zeroed by fake_mm_start); bodies
 * returned by fake_mm_call* are malloc'ed and freed by the caller.
 * Errors: functions return 0 or a negative errno-style code and leave a
 * message in f->err. -ENOENT from fake_mm_start means python3 or aiohttp is
 * missing (use fake_mm_available() to skip instead).
 */
#ifndef FAKE_MM_H
#define FAKE_MM_H

#include <sys/types.h>

#define FAKE_MM_PYTHON "/usr/bin/python3"

struct fake_mm {
	pid_t pid;              /* the server process; 0 when not running */
	unsigned port;
	char url[64];           /* "http://127.0.0.1:PORT" (https with --tls-cert) */
	char bot_token[64];     /* "bot-token" */
	char bot_id[32], alice_id[32], bob_id[32], carol_id[32], town_id[32], other_id[32];
	char err[512];
};

/* True when /usr/bin/python3 exists and can import aiohttp (result cached). */
int fake_mm_available(void);

/* extra_args: more command-line arguments for server.py, separated by
 * spaces (no quoting), e.g. "--ping-interval 0.2 --pong-wait 0.5"; NULL or
 * "" for none. Returns once the server answers; on failure nothing is left
 * running. */
int fake_mm_start(struct fake_mm *f, const char *extra_args);

/* Idempotent; safe on a zeroed or half-started struct. */
void fake_mm_stop(struct fake_mm *f);

/* A blocking HTTP request to the server (libcurl) without credentials, for
 * the /_fake/ control endpoints and ad-hoc checks. json_body may be NULL;
 * when set it is sent with Content-Type: application/json. *status gets the
 * HTTP status, *body (if body is not NULL) the NUL-terminated response body.
 * Returns 0 when a response arrived (whatever its status). */
int fake_mm_call(struct fake_mm *f, const char *method, const char *path,
		 const char *json_body, long *status, char **body);

/* Extension: the same, authenticated with `Authorization: Bearer <token>`
 * (token NULL: none). */
int fake_mm_call_as(struct fake_mm *f, const char *token, const char *method,
		    const char *path, const char *json_body, long *status, char **body);

#endif
