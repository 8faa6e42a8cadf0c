/*
 * sr_config.h — the daemon's settings, read from SM_* environment variables
 * (the README's configuration reference lists every one).
 *
 * Secrets (SM_VM_SSH_KEY, the values of forwarded variables such as
 * ANTHROPIC_API_KEY) are kept in memory only: no error message, log line or
 * remote command line ever contains them.
 *
 * Lists (char **x with size_t nx) are also NULL-terminated.
 *
 * Ownership: sr_config_load fills a caller-owned struct and allocates its
 * strings; sr_config_free releases them (and wipes the key text).
 * Errors: 0 or -EINVAL with a message naming the variable in err.
 */
#ifndef SR_CONFIG_H
#define SR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sr_log.h"

enum sr_host_key_policy {
	SR_POLICY_STRICT,     /* unknown or changed host key: refuse */
	SR_POLICY_ACCEPT_NEW, /* unknown: record it; changed: refuse */
};

enum sr_runtime {
	SR_RUNTIME_PODMAN,
	SR_RUNTIME_DOCKER,
	SR_RUNTIME_NONE, /* run directly on the VM (the VM is the sandbox) */
};

struct sr_config {
	char **vm_hosts; /* "host" or "host:port", at least one when set */
	size_t nvm_hosts;
	char *vm_user;
	char *ssh_key;      /* key text (secret) or NULL */
	char *ssh_key_path; /* or a path */
	char *known_hosts;
	enum sr_host_key_policy host_key_policy;
	unsigned keepalive_s;

	enum sr_runtime runtime;
	char *container_image;
	char *container_network; /* NULL: the runtime's default */
	char *container_memory;  /* e.g. "4g", NULL: no limit */
	char *container_cpus;    /* e.g. "2", NULL: no limit */
	char **forward_env;      /* names whose values go to the agent */
	size_t nforward_env;

	char *runtime_bin;       /* SM_CONTAINER_RUNTIME_BIN; NULL: "podman"/"docker" */

	char *claude_command;
	char **claude_argv;      /* its words, NULL-terminated */
	size_t nclaude_argv;
	char *git_base_url;      /* SM_GIT_BASE_URL */
	enum sr_log_level log_level;
	bool log_json;           /* SM_LOG_FORMAT */
	char *projects_json; /* SM_PROJECTS, parsed by sr_project */
	char *repos_base;
	char *worktrees_base;
	bool auto_pull;
	char *state_dir;

	/* chat (Mattermost): on when SM_MM_URL is set */
	char *mm_url;
	char *mm_token;          /* secret */
	char *mm_ca_file;
	bool mm_insecure;
	unsigned mm_rate, mm_burst;
	char *bot_trigger;
	char **allowed_users;
	size_t nallowed_users;
	char *listen_addr;       /* SM_LISTEN_ADDR: button callbacks, health */
	char *callback_url;      /* SM_CALLBACK_URL: how Mattermost reaches it */
	char **approvers;        /* SM_APPROVERS; empty: each session's owner */
	size_t napprovers;
	unsigned approval_ttl_s; /* SM_APPROVAL_TTL */

	/* firewall */
	char *firewall;          /* log | command | nftables | opnsense */
	char *opnsense_url, *opnsense_key, *opnsense_secret, *opnsense_alias, *opnsense_ca_file;
	bool opnsense_insecure;
	char *nft_table, *nft_iface, *nft_cidr, *nft_resolver;
	char **fw_cmd_add, **fw_cmd_remove, **fw_cmd_list;
	size_t nfw_cmd_add, nfw_cmd_remove, nfw_cmd_list;
	char **fw_deny, **fw_preapproved;
	size_t nfw_deny, nfw_preapproved;
	char *audit_log;

	char *control_socket; /* SM_CONTROL_SOCKET; NULL: <state_dir>/control.sock */
	char *control_group;  /* SM_CONTROL_GROUP; NULL: the daemon's user only */

	char *term;
	unsigned cols, rows;
};

typedef const char *(*sr_getenv_fn)(const char *name);

/* Reads the settings through getenv_fn (getenv when NULL). */
int sr_config_load(struct sr_config *c, sr_getenv_fn getenv_fn, char *err,
		   size_t errlen);
void sr_config_free(struct sr_config *c);

#endif
