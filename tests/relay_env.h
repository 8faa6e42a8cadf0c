/*
 * relay_env.h — a private environment for sr_config_load in tests: the
 * settings a test gives the relay, without touching the process's real
 * environment (criterion runs tests in parallel processes, but a test's
 * own children must not inherit SM_* values by accident either).
 *
 * renv_get has the sr_getenv_fn shape. Values are copied (up to 2 KiB
 * each, 48 variables); renv_reset forgets them (call it in teardown).
 */
#ifndef RELAY_ENV_H
#define RELAY_ENV_H

void renv_set(const char *name, const char *value);
const char *renv_get(const char *name);
void renv_reset(void);

#endif
