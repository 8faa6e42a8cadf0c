/*
 * sr_state.h — the daemon's persistent state under SM_STATE_DIR: one JSON
 * document (state.json) with a top-level object per concern ("sessions",
 * later "approvals"), written atomically so a killed relay never leaves a
 * torn file: temp file in the same directory, fsync, rename, fsync of the
 * directory.
 *
 * A state file that does not parse is never silently discarded: it is
 * moved aside to state.json.corrupt-<unix time> and the problem reported.
 *
 * Ownership: sr_state_open allocates the store; sr_state_close frees it.
 * Sections returned by sr_state_section belong to the store (cJSON nodes
 * the caller may modify in place until the next close).
 * Errors: 0 or negative errno; details in err.
 */
#ifndef SR_STATE_H
#define SR_STATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define SR_STATE_VERSION 1

struct sr_state;

/* Writes data to path atomically (mode 0600). */
int sr_atomic_write(const char *path, const void *data, size_t len, char *err,
		    size_t errlen);

/* Opens (creating the directory, mode 0700) and loads the state. When the
 * file was corrupt it is moved aside, the store starts empty, the function
 * returns 0 and *warning (if given) receives a malloc'ed message. */
int sr_state_open(const char *dir, struct sr_state **out, char **warning,
		  char *err, size_t errlen);
void sr_state_close(struct sr_state *st);

/* The top-level object `name`, created empty when missing. */
cJSON *sr_state_section(struct sr_state *st, const char *name);

/* Writes the whole document atomically. */
int sr_state_save(struct sr_state *st, char *err, size_t errlen);

/* Path of the state file (owned by the store). */
const char *sr_state_path(const struct sr_state *st);

#endif
