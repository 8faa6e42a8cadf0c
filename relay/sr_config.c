/* sr_config.c — SM_* settings with defaults and clear errors. */
#include "sr_config.h"

#include "sr_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loader {
	sr_getenv_fn get;
	char *err;
	size_t errlen;
	int r;
};

static const char *env_or(struct loader *l, const char *name, const char *dflt)
{
	const char *v = l->get(name);
	return v && *v ? v : dflt;
}

static char *dup_or_null(struct loader *l, const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		l->r = -ENOMEM;
	return d;
}

static void bad(struct loader *l, const char *name, const char *why, const char *value)
{
	if (l->r == 0) {
		if (value)
			snprintf(l->err, l->errlen, "%s=%.80s: %s", name, value, why);
		else
			snprintf(l->err, l->errlen, "%s: %s", name, why);
		l->r = -EINVAL;
	}
}

/* Splits a comma-separated list, trimming blanks; empty items rejected. */
static char **split_list(struct loader *l, const char *name, const char *v, size_t *n)
{
	*n = 0;
	if (!v)
		return NULL;
	size_t cap = 1;
	for (const char *p = v; *p; p++)
		cap += *p == ',';
	char **out = calloc(cap + 1, sizeof(*out)); /* NULL-terminated too */
	if (!out) {
		l->r = -ENOMEM;
		return NULL;
	}
	const char *p = v;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			bad(l, name, "empty item in the comma-separated list", v);
			break;
		}
		out[(*n)++] = strndup(p, len);
		if (!end)
			break;
		p = end + 1;
	}
	return out;
}

/* Splits on blanks (no quoting: SM_CLAUDE_COMMAND is a program and plain
 * options, never shell code). */
static char **split_words(struct loader *l, const char *v, size_t *n)
{
	*n = 0;
	if (!v)
		return NULL;
	size_t cap = 1;
	for (const char *p = v; *p; p++)
		cap += *p == ' ' || *p == '\t';
	char **out = calloc(cap + 1, sizeof(*out));
	if (!out) {
		l->r = -ENOMEM;
		return NULL;
	}
	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (!len)
			break;
		if (!(out[(*n)++] = strndup(p, len)))
			l->r = -ENOMEM;
		p += len;
	}
	return out;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool plain_token(const char *s, const char *allowed)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(allowed, *s)))
			return false;
	return true;
}

static void absolute_path(struct loader *l, const char *name, const char *v)
{
	if (v && (v[0] != '/' || strstr(v, "/../") || strchr(v, '\n')))
		bad(l, name, "must be an absolute path without '..'", v);
}

static unsigned number(struct loader *l, const char *name, unsigned dflt,
		       unsigned min, unsigned max)
{
	const char *v = l->get(name);
	if (!v || !*v)
		return dflt;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || v[0] == '-' || n < min || n > max) {
		char why[64];
		snprintf(why, sizeof(why), "must be a number from %u to %u", min, max);
		bad(l, name, why, v);
		return dflt;
	}
	return (unsigned)n;
}

static bool boolean(struct loader *l, const char *name, bool dflt)
{
	const char *v = l->get(name);
	if (!v || !*v)
		return dflt;
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
		return true;
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
		return false;
	bad(l, name, "must be true or false", v);
	return dflt;
}

static const char *sys_getenv(const char *name)
{
	return getenv(name);
}

int sr_config_load(struct sr_config *c, sr_getenv_fn getenv_fn, char *err,
		   size_t errlen)
{
	memset(c, 0, sizeof(*c));
	struct loader l = {.get = getenv_fn ? getenv_fn : sys_getenv, .err = err,
			   .errlen = errlen};
	const char *hosts = l.get("SM_VM_HOSTS");
	const char *host = l.get("SM_VM_HOST");
	if (hosts && *hosts && host && *host)
		bad(&l, "SM_VM_HOSTS", "set SM_VM_HOSTS or SM_VM_HOST, not both", NULL);
	c->vm_hosts = split_list(&l, hosts && *hosts ? "SM_VM_HOSTS" : "SM_VM_HOST",
				 hosts && *hosts ? hosts : (host && *host ? host : NULL),
				 &c->nvm_hosts);
	for (size_t i = 0; i < c->nvm_hosts && l.r == 0; i++)
		if (!c->vm_hosts[i] || !plain_token(c->vm_hosts[i], ".-_:[]"))
			bad(&l, "SM_VM_HOSTS", "each host must be host or host:port", c->vm_hosts[i]);
	c->vm_user = dup_or_null(&l, env_or(&l, "SM_VM_USER", "claude"));
	if (c->vm_user && (!plain_token(c->vm_user, "._-") || c->vm_user[0] == '-'))
		bad(&l, "SM_VM_USER", "must be a plain user name", c->vm_user);
	/* The key text is a secret: never echoed in a message. */
	const char *key = l.get("SM_VM_SSH_KEY");
	c->ssh_key = dup_or_null(&l, key && *key ? key : NULL);
	c->ssh_key_path = dup_or_null(&l, env_or(&l, "SM_VM_SSH_KEY_PATH", NULL));
	if (c->ssh_key && c->ssh_key_path)
		bad(&l, "SM_VM_SSH_KEY", "set SM_VM_SSH_KEY or SM_VM_SSH_KEY_PATH, not both", NULL);
	c->known_hosts = dup_or_null(&l, env_or(&l, "SM_VM_KNOWN_HOSTS", NULL));
	absolute_path(&l, "SM_VM_KNOWN_HOSTS", c->known_hosts);
	/* "local" (sessions on this machine, sr_ssh.h's SR_SSH_LOCAL) needs no
	 * SSH; every other host does. */
	size_t nssh = 0;
	for (size_t i = 0; i < c->nvm_hosts; i++)
		nssh += c->vm_hosts[i] && strcmp(c->vm_hosts[i], "local") != 0;
	if (nssh && !c->ssh_key && !c->ssh_key_path)
		bad(&l, "SM_VM_SSH_KEY", "a VM host is set but no key (SM_VM_SSH_KEY or SM_VM_SSH_KEY_PATH)", NULL);
	if (nssh && !c->known_hosts)
		bad(&l, "SM_VM_KNOWN_HOSTS", "a VM host is set: host keys must be verified against a known_hosts file", NULL);
	const char *policy = env_or(&l, "SM_VM_HOST_KEY_POLICY", "strict");
	if (!strcmp(policy, "strict"))
		c->host_key_policy = SR_POLICY_STRICT;
	else if (!strcmp(policy, "accept-new"))
		c->host_key_policy = SR_POLICY_ACCEPT_NEW;
	else
		bad(&l, "SM_VM_HOST_KEY_POLICY", "must be strict or accept-new", policy);
	c->keepalive_s = number(&l, "SM_VM_KEEPALIVE", 15, 1, 3600);

	const char *rt = env_or(&l, "SM_CONTAINER_RUNTIME", "podman");
	if (!strcmp(rt, "podman"))
		c->runtime = SR_RUNTIME_PODMAN;
	else if (!strcmp(rt, "docker"))
		c->runtime = SR_RUNTIME_DOCKER;
	else if (!strcmp(rt, "none"))
		c->runtime = SR_RUNTIME_NONE;
	else
		bad(&l, "SM_CONTAINER_RUNTIME", "must be podman, docker or none", rt);
	c->container_image = dup_or_null(&l, env_or(&l, "SM_CONTAINER_IMAGE", "localhost/smrelay-agent:latest"));
	c->container_network = dup_or_null(&l, env_or(&l, "SM_CONTAINER_NETWORK", NULL));
	c->container_memory = dup_or_null(&l, env_or(&l, "SM_CONTAINER_MEMORY", NULL));
	c->container_cpus = dup_or_null(&l, env_or(&l, "SM_CONTAINER_CPUS", NULL));
	if (c->container_memory && !plain_token(c->container_memory, ""))
		bad(&l, "SM_CONTAINER_MEMORY", "must look like 4g or 512m", c->container_memory);
	if (c->container_cpus && !plain_token(c->container_cpus, "."))
		bad(&l, "SM_CONTAINER_CPUS", "must be a number like 2 or 1.5", c->container_cpus);
	if (c->container_network && !plain_token(c->container_network, "._-"))
		bad(&l, "SM_CONTAINER_NETWORK", "must be a network name", c->container_network);
	c->forward_env = split_list(&l, "SM_CONTAINER_ENV",
				    env_or(&l, "SM_CONTAINER_ENV", "ANTHROPIC_API_KEY"),
				    &c->nforward_env);
	for (size_t i = 0; i < c->nforward_env && l.r == 0; i++)
		if (!c->forward_env[i] || !plain_token(c->forward_env[i], "_") ||
		    (c->forward_env[i][0] >= '0' && c->forward_env[i][0] <= '9'))
			bad(&l, "SM_CONTAINER_ENV", "must list environment variable names", c->forward_env[i]);

	c->runtime_bin = dup_or_null(&l, env_or(&l, "SM_CONTAINER_RUNTIME_BIN", NULL));
	if (c->runtime_bin && (!plain_token(c->runtime_bin, "/._-+") || c->runtime_bin[0] == '-'))
		bad(&l, "SM_CONTAINER_RUNTIME_BIN", "must be a program name or path", c->runtime_bin);

	c->claude_command = dup_or_null(&l, env_or(&l, "SM_CLAUDE_COMMAND",
						  "claude --dangerously-skip-permissions"));
	c->claude_argv = split_words(&l, c->claude_command, &c->nclaude_argv);
	if (l.r == 0 && c->nclaude_argv == 0)
		bad(&l, "SM_CLAUDE_COMMAND", "must name a program", NULL);
	c->git_base_url = dup_or_null(&l, env_or(&l, "SM_GIT_BASE_URL", "https://github.com/"));
	if (c->git_base_url && !plain_token(c->git_base_url, "/:._-+@~%"))
		bad(&l, "SM_GIT_BASE_URL", "must be a URL like https://github.com/", c->git_base_url);
	const char *lf = env_or(&l, "SM_LOG_FORMAT", "json");
	if (strcmp(lf, "json") && strcmp(lf, "text"))
		bad(&l, "SM_LOG_FORMAT", "must be json or text", lf);
	c->log_json = !strcmp(lf, "json");
	const char *lv = env_or(&l, "SM_LOG_LEVEL", "info");
	if (sr_log_parse_level(lv, &c->log_level) < 0)
		bad(&l, "SM_LOG_LEVEL", "must be debug, info, warn or error", lv);
	c->projects_json = dup_or_null(&l, env_or(&l, "SM_PROJECTS", NULL));
	c->repos_base = dup_or_null(&l, env_or(&l, "SM_REPOS_BASE_PATH", "/srv/smrelay/repos"));
	c->worktrees_base = dup_or_null(&l, env_or(&l, "SM_WORKTREES_PATH", "/srv/smrelay/worktrees"));
	absolute_path(&l, "SM_REPOS_BASE_PATH", c->repos_base);
	absolute_path(&l, "SM_WORKTREES_PATH", c->worktrees_base);
	c->auto_pull = boolean(&l, "SM_AUTO_PULL", true);
	c->state_dir = dup_or_null(&l, env_or(&l, "SM_STATE_DIR", "/var/lib/smrelay"));
	absolute_path(&l, "SM_STATE_DIR", c->state_dir);

	/* chat */
	c->mm_url = dup_or_null(&l, env_or(&l, "SM_MM_URL", NULL));
	if (c->mm_url && strncmp(c->mm_url, "https://", 8) && strncmp(c->mm_url, "http://", 7))
		bad(&l, "SM_MM_URL", "must start with https:// (or http:// for a local test server)", c->mm_url);
	c->mm_token = dup_or_null(&l, env_or(&l, "SM_MM_TOKEN", NULL));
	if (c->mm_url && !c->mm_token)
		bad(&l, "SM_MM_TOKEN", "SM_MM_URL is set: the bot's access token is required", NULL);
	c->mm_ca_file = dup_or_null(&l, env_or(&l, "SM_MM_CA_FILE", NULL));
	absolute_path(&l, "SM_MM_CA_FILE", c->mm_ca_file);
	c->mm_insecure = boolean(&l, "SM_MM_INSECURE", false);
	c->mm_rate = number(&l, "SM_MM_RATE", 10, 1, 1000);
	c->mm_burst = number(&l, "SM_MM_BURST", 100, 1, 10000);
	c->bot_trigger = dup_or_null(&l, env_or(&l, "SM_BOT_TRIGGER", "@claude"));
	if (c->bot_trigger && (strchr(c->bot_trigger, ' ') || strchr(c->bot_trigger, '\n')))
		bad(&l, "SM_BOT_TRIGGER", "must be one word, like @claude", c->bot_trigger);
	c->allowed_users = split_list(&l, "SM_ALLOWED_USERS", env_or(&l, "SM_ALLOWED_USERS", NULL),
				      &c->nallowed_users);
	c->approvers = split_list(&l, "SM_APPROVERS", env_or(&l, "SM_APPROVERS", NULL), &c->napprovers);
	c->approval_ttl_s = number(&l, "SM_APPROVAL_TTL", 3600, 1, 7 * 86400);
	const char *scope = env_or(&l, "SM_APPROVAL_SCOPE", "session");
	if (strcmp(scope, "session") && strcmp(scope, "permanent"))
		bad(&l, "SM_APPROVAL_SCOPE", "must be session or permanent", scope);
	c->listen_addr = dup_or_null(&l, env_or(&l, "SM_LISTEN_ADDR", "127.0.0.1:8080"));
	c->callback_url = dup_or_null(&l, env_or(&l, "SM_CALLBACK_URL", NULL));
	if (c->callback_url && strncmp(c->callback_url, "https://", 8) &&
	    strncmp(c->callback_url, "http://", 7))
		bad(&l, "SM_CALLBACK_URL", "must be an http(s) URL Mattermost can reach", c->callback_url);

	/* firewall */
	c->firewall = dup_or_null(&l, env_or(&l, "SM_FIREWALL", "log"));
	if (c->firewall && strcmp(c->firewall, "log") && strcmp(c->firewall, "command") &&
	    strcmp(c->firewall, "nftables") && strcmp(c->firewall, "opnsense"))
		bad(&l, "SM_FIREWALL", "must be log, command, nftables or opnsense", c->firewall);
	c->opnsense_url = dup_or_null(&l, env_or(&l, "SM_OPNSENSE_URL", NULL));
	c->opnsense_key = dup_or_null(&l, env_or(&l, "SM_OPNSENSE_KEY", NULL));
	c->opnsense_secret = dup_or_null(&l, env_or(&l, "SM_OPNSENSE_SECRET", NULL));
	c->opnsense_alias = dup_or_null(&l, env_or(&l, "SM_OPNSENSE_ALIAS", "smrelay_allowed"));
	c->opnsense_ca_file = dup_or_null(&l, env_or(&l, "SM_OPNSENSE_CA_FILE", NULL));
	absolute_path(&l, "SM_OPNSENSE_CA_FILE", c->opnsense_ca_file);
	c->opnsense_insecure = boolean(&l, "SM_OPNSENSE_INSECURE", false);
	if (c->firewall && !strcmp(c->firewall, "opnsense") &&
	    (!c->opnsense_url || !c->opnsense_key || !c->opnsense_secret))
		bad(&l, "SM_FIREWALL", "opnsense needs SM_OPNSENSE_URL, SM_OPNSENSE_KEY and SM_OPNSENSE_SECRET", NULL);
	c->nft_table = dup_or_null(&l, env_or(&l, "SM_NFT_TABLE", "smrelay"));
	c->nft_iface = dup_or_null(&l, env_or(&l, "SM_NFT_SANDBOX_IFACE", NULL));
	c->nft_cidr = dup_or_null(&l, env_or(&l, "SM_NFT_SANDBOX_CIDR", NULL));
	c->nft_resolver = dup_or_null(&l, env_or(&l, "SM_NFT_RESOLVER", NULL));
	if (c->firewall && !strcmp(c->firewall, "nftables") &&
	    ((!c->nft_iface && !c->nft_cidr) || !c->nft_resolver))
		bad(&l, "SM_FIREWALL", "nftables needs SM_NFT_SANDBOX_IFACE or SM_NFT_SANDBOX_CIDR, and SM_NFT_RESOLVER", NULL);
	c->fw_cmd_add = split_words(&l, env_or(&l, "SM_FIREWALL_CMD_ADD", NULL), &c->nfw_cmd_add);
	c->fw_cmd_remove = split_words(&l, env_or(&l, "SM_FIREWALL_CMD_REMOVE", NULL), &c->nfw_cmd_remove);
	c->fw_cmd_list = split_words(&l, env_or(&l, "SM_FIREWALL_CMD_LIST", NULL), &c->nfw_cmd_list);
	if (c->firewall && !strcmp(c->firewall, "command") && (!c->nfw_cmd_add || !c->nfw_cmd_remove))
		bad(&l, "SM_FIREWALL", "command needs SM_FIREWALL_CMD_ADD and SM_FIREWALL_CMD_REMOVE (argv words with {host})", NULL);
	c->fw_deny = split_list(&l, "SM_FIREWALL_DENY", env_or(&l, "SM_FIREWALL_DENY", NULL), &c->nfw_deny);
	c->fw_preapproved = split_list(&l, "SM_FIREWALL_PREAPPROVED",
				       env_or(&l, "SM_FIREWALL_PREAPPROVED", NULL), &c->nfw_preapproved);
	c->audit_log = dup_or_null(&l, env_or(&l, "SM_AUDIT_LOG", NULL));
	absolute_path(&l, "SM_AUDIT_LOG", c->audit_log);

	c->control_socket = dup_or_null(&l, env_or(&l, "SM_CONTROL_SOCKET", NULL));
	absolute_path(&l, "SM_CONTROL_SOCKET", c->control_socket);
	c->control_group = dup_or_null(&l, env_or(&l, "SM_CONTROL_GROUP", NULL));
	if (c->control_group && !plain_token(c->control_group, "._-"))
		bad(&l, "SM_CONTROL_GROUP", "must be a group name", c->control_group);

	c->term = dup_or_null(&l, env_or(&l, "SM_TERM", "xterm-256color"));
	if (c->term && !plain_token(c->term, "-._+"))
		bad(&l, "SM_TERM", "must be a terminal type name", c->term);
	c->cols = number(&l, "SM_COLS", 100, 20, 1000);
	c->rows = number(&l, "SM_ROWS", 30, 5, 500);
	if (l.r < 0)
		sr_config_free(c);
	return l.r;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	volatile char *p = s;
	while (*p)
		*p++ = 0;
	free(s);
}

void sr_config_free(struct sr_config *c)
{
	if (!c)
		return;
	free_list(c->vm_hosts, c->nvm_hosts);
	free(c->vm_user);
	wipe_free(c->ssh_key); /* the key text is wiped before the memory goes back */
	free(c->ssh_key_path);
	free(c->known_hosts);
	free(c->container_image);
	free(c->container_network);
	free(c->container_memory);
	free(c->container_cpus);
	free_list(c->forward_env, c->nforward_env);
	free(c->claude_command);
	free_list(c->claude_argv, c->nclaude_argv);
	free(c->runtime_bin);
	free(c->git_base_url);
	free(c->projects_json);
	free(c->repos_base);
	free(c->worktrees_base);
	free(c->state_dir);
	free(c->term);
	free(c->control_socket);
	free(c->mm_url);
	wipe_free(c->mm_token);
	free(c->mm_ca_file);
	free(c->bot_trigger);
	free_list(c->allowed_users, c->nallowed_users);
	free_list(c->approvers, c->napprovers);
	free(c->listen_addr);
	free(c->callback_url);
	free(c->firewall);
	free(c->opnsense_url);
	wipe_free(c->opnsense_key);
	wipe_free(c->opnsense_secret);
	free(c->opnsense_alias);
	free(c->opnsense_ca_file);
	free(c->nft_table);
	free(c->nft_iface);
	free(c->nft_cidr);
	free(c->nft_resolver);
	free_list(c->fw_cmd_add, c->nfw_cmd_add);
	free_list(c->fw_cmd_remove, c->nfw_cmd_remove);
	free_list(c->fw_cmd_list, c->nfw_cmd_list);
	free_list(c->fw_deny, c->nfw_deny);
	free_list(c->fw_preapproved, c->nfw_preapproved);
	free(c->audit_log);
	free(c->control_group);
	memset(c, 0, sizeof(*c));
}
