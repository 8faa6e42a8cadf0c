/* relay_env.c — a private environment for sr_config_load (relay_env.h). */
#include "relay_env.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct kv {
	char name[64];
	char value[2048];
} ENV[48];
static size_t NENV;

void renv_set(const char *name, const char *value)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name)) {
			snprintf(ENV[i].value, sizeof(ENV[i].value), "%s", value);
			return;
		}
	cr_assert_lt(NENV, sizeof(ENV) / sizeof(ENV[0]), "too many test variables");
	snprintf(ENV[NENV].name, sizeof(ENV[NENV].name), "%s", name);
	snprintf(ENV[NENV].value, sizeof(ENV[NENV].value), "%s", value);
	NENV++;
}

const char *renv_get(const char *name)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name))
			return ENV[i].value;
	return NULL;
}

void renv_reset(void)
{
	NENV = 0;
}
