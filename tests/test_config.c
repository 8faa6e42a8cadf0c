/* test_config.c — SM_* settings: defaults, validation with clear messages,
 * and secrets never echoed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sr_config.h"

static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	for (const char *const *e = fake_env; e && *e; e += 2)
		if (!strcmp(e[0], name))
			return e[1];
	return NULL;
}

static int load(const char *const *env, struct sr_config *c, char *err, size_t n)
{
	fake_env = env;
	err[0] = '\0';
	return sr_config_load(c, fake_getenv, err, n);
}

Test(config, defaults_without_any_variable)
{
	static const char *const env[] = {NULL};
	struct sr_config c;
	char err[256];
	cr_assert_eq(load(env, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.nvm_hosts, 0);
	cr_assert_str_eq(c.vm_user, "claude");
	cr_assert_eq(c.runtime, SR_RUNTIME_PODMAN);
	cr_assert_eq(c.host_key_policy, SR_POLICY_STRICT);
	cr_assert_str_eq(c.claude_command, "claude --dangerously-skip-permissions");
	cr_assert_str_eq(c.term, "xterm-256color");
	cr_assert_eq(c.cols, 100);
	cr_assert_eq(c.rows, 30);
	cr_assert(c.auto_pull);
	cr_assert_eq(c.nforward_env, 1);
	cr_assert_str_eq(c.forward_env[0], "ANTHROPIC_API_KEY");
	sr_config_free(&c);
}

Test(config, a_full_vm_setup)
{
	static const char *const env[] = {
		"SM_VM_HOSTS", "vm1.example.com, vm2:2222,[::1]:22",
		"SM_VM_SSH_KEY_PATH", "/etc/smrelay/id_ed25519",
		"SM_VM_KNOWN_HOSTS", "/etc/smrelay/known_hosts",
		"SM_VM_HOST_KEY_POLICY", "accept-new",
		"SM_CONTAINER_RUNTIME", "none",
		"SM_CONTAINER_ENV", "ANTHROPIC_API_KEY,GH_TOKEN",
		"SM_AUTO_PULL", "false",
		"SM_COLS", "120",
		NULL};
	struct sr_config c;
	char err[256];
	cr_assert_eq(load(env, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.nvm_hosts, 3);
	cr_assert_str_eq(c.vm_hosts[0], "vm1.example.com");
	cr_assert_str_eq(c.vm_hosts[1], "vm2:2222");
	cr_assert_str_eq(c.vm_hosts[2], "[::1]:22");
	cr_assert_eq(c.host_key_policy, SR_POLICY_ACCEPT_NEW);
	cr_assert_eq(c.runtime, SR_RUNTIME_NONE);
	cr_assert_eq(c.nforward_env, 2);
	cr_assert_not(c.auto_pull);
	cr_assert_eq(c.cols, 120);
	sr_config_free(&c);
}

Test(config, invalid_values_name_the_variable)
{
	static const struct {
		const char *env[8];
		const char *msg;
	} cases[] = {
		{{"SM_CONTAINER_RUNTIME", "lxc", NULL}, "SM_CONTAINER_RUNTIME=lxc: must be podman, docker or none"},
		{{"SM_VM_HOST_KEY_POLICY", "yes", NULL}, "SM_VM_HOST_KEY_POLICY=yes: must be strict or accept-new"},
		{{"SM_VM_HOST", "vm1", "SM_VM_KNOWN_HOSTS", "/k", NULL}, "no key"},
		{{"SM_VM_HOST", "vm1", "SM_VM_SSH_KEY_PATH", "/k", NULL}, "SM_VM_KNOWN_HOSTS"},
		{{"SM_VM_HOST", "vm1", "SM_VM_HOSTS", "vm2", NULL}, "not both"},
		{{"SM_VM_HOSTS", "vm1,,vm2", NULL}, "empty item"},
		{{"SM_VM_HOSTS", "vm1;rm -rf /", NULL}, "host or host:port"},
		{{"SM_VM_USER", "-oProxyCommand=x", NULL}, "plain user name"},
		{{"SM_STATE_DIR", "relative/dir", NULL}, "absolute path"},
		{{"SM_REPOS_BASE_PATH", "/srv/../etc", NULL}, "absolute path"},
		{{"SM_COLS", "10", NULL}, "SM_COLS=10: must be a number from 20 to 1000"},
		{{"SM_ROWS", "abc", NULL}, "SM_ROWS=abc"},
		{{"SM_AUTO_PULL", "maybe", NULL}, "must be true or false"},
		{{"SM_CONTAINER_ENV", "GOOD,bad-name", NULL}, "environment variable names"},
		{{"SM_CONTAINER_NETWORK", "net;x", NULL}, "network name"},
		{{"SM_TERM", "xterm$(id)", NULL}, "terminal type"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_config c;
		char err[256];
		cr_expect_eq(load(cases[i].env, &c, err, sizeof(err)), -EINVAL, "case %zu accepted", i);
		cr_expect_not_null(strstr(err, cases[i].msg), "case %zu: '%s'", i, err);
	}
}

Test(config, the_key_text_is_never_echoed)
{
	static const char key[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
				  "-----END OPENSSH PRIVATE KEY-----\n";
	static const char *const env[] = {"SM_VM_SSH_KEY", key, "SM_VM_SSH_KEY_PATH", "/k",
					  "SM_VM_HOST", "vm", NULL};
	struct sr_config c;
	char err[512];
	cr_assert_eq(load(env, &c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "not both"), "%s", err);
	cr_assert_null(strstr(err, "b3BlbnNzaC1"), "the key leaked into: %s", err);
	cr_assert_null(strstr(err, "BEGIN"), "the key leaked into: %s", err);
	static const char *const ok[] = {"SM_VM_SSH_KEY", key, "SM_VM_HOST", "vm",
					 "SM_VM_KNOWN_HOSTS", "/k", NULL};
	cr_assert_eq(load(ok, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.ssh_key, key);
	sr_config_free(&c);
}
