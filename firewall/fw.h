/*
 * fw.h — the allowlist behind approvals: one small interface over several
 * backends (OPNsense alias API, nftables, an external command, log-only),
 * the hostname policy every backend shares, and the audit log.
 *
 * firewall/ depends on nothing of ours (only libc, libcurl, cJSON, libidn2).
 * It never waits for the network or a child process (its only blocking
 * calls are fsyncs of small local files) and owns no event loop. Like
 * sr_ssh it is a pollable object; the owner's loop:
 *
 *   - asks fw_poll() which fds to watch (and for what) and until when to
 *     wait at most (an absolute CLOCK_MONOTONIC deadline in ms, or
 *     UINT64_MAX), after every call into this module;
 *   - calls fw_step() when one of those fds is ready or the deadline passed
 *     (calling it more often is harmless);
 *   - completion callbacks run only from inside fw_step() (never from the
 *     call that queued the work), so a caller never re-enters itself. A
 *     callback may queue more work (fw_add...) but must not call fw_free;
 *     fw_step called from a callback returns at once.
 *
 * Operations are queued and applied by ONE writer per backend, in order
 * (the OPNsense apply step can take minutes; nothing else may interleave a
 * read-modify-write). A callback reports success (rc 0) only once the
 * change is applied (OPNsense: saved + reconfigured; nftables: the set
 * updated; command: exit status 0).
 *
 * Scopes: an approval is permanent, or for one session's lifetime
 * (fw_session_ended removes the session's hosts unless a permanent approval
 * or another live session still needs them). Adding a host that is already
 * applied only records the new scope (no backend call). With a state_dir,
 * the table of approved hosts and their scopes is kept in
 * state_dir/fw-approvals.json (atomic rewrite, 0600), so a session's hosts
 * are still removed when it ends after a relay restart. At start the core
 * asks the backend for its list (when it can list): hosts found there that
 * the table lacks count as permanent; table hosts missing there are
 * re-applied by the next add.
 *
 * Audit: every decision (add, remove, deny, refusal by policy, backend
 * result) is appended to a JSON Lines file with fsync (fw_audit.h, which
 * also has the reader for `smrelay audit`).
 *
 * Ownership: fw_new copies the options; the caller frees the fw with
 * fw_free (pending callbacks are then not called). Strings passed to
 * callbacks are valid during the call only.
 * Errors: 0 or a negative errno-style code; a human-readable reason through
 * `char *err, size_t errlen` (setup) or the callback's msg. Secrets (API key
 * and secret) never appear in messages, the audit log or argv.
 */
#ifndef FW_H
#define FW_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_HOST_MAX 253 /* a normalised hostname's length limit */

enum fw_backend_kind {
	FW_BACKEND_LOG,      /* records decisions, enforces nothing */
	FW_BACKEND_COMMAND,  /* runs configured argv templates */
	FW_BACKEND_NFTABLES, /* local nft table with a set of resolved addresses */
	FW_BACKEND_OPNSENSE, /* OPNsense firewall alias API */
};

enum fw_scope {
	FW_SCOPE_PERMANENT,
	FW_SCOPE_SESSION,
};

struct fw_opnsense_opts {
	const char *url;       /* https://fw.example:443 (no trailing path) */
	const char *key;       /* API key (secret) */
	const char *secret;    /* API secret (secret) */
	const char *alias;     /* the only alias ever written */
	const char *ca_file;   /* NULL: system CAs */
	bool insecure;         /* skip TLS verification (explicit, logged) */
	unsigned timeout_s;    /* per request; 0 → 30 */
	unsigned apply_timeout_s; /* reconfigure; 0 → 300 */
};

struct fw_nft_opts {
	const char *nft;         /* nft binary; NULL → "nft" */
	const char *table;       /* our own inet table; NULL → "smrelay" */
	const char *sandbox_iface; /* traffic from this interface is filtered, or */
	const char *sandbox_cidr;  /* from this source subnet (v4 or v6); one of the two */
	const char *resolver;    /* DNS server address the sandbox may use (and we query) */
	unsigned min_ttl_s, max_ttl_s; /* clamp for re-resolution; 0 → 30, 3600 */
};

struct fw_command_opts {
	/* argv templates, NULL-terminated; "{host}" in a word is replaced by
	 * the normalised host (whole word or part of one); no shell involved. */
	const char *const *add;
	const char *const *remove;
	const char *const *list; /* optional: prints one host per line */
	unsigned timeout_s;      /* 0 → 60 */
};

struct fw_opts {
	enum fw_backend_kind kind;
	struct fw_opnsense_opts opnsense;
	struct fw_nft_opts nft;
	struct fw_command_opts command;
	const char *state_dir;        /* where backends persist (e.g. OPNsense apply-pending) */
	const char *audit_path;       /* JSON Lines audit log; NULL: no audit file */
	const char *const *deny;      /* extra names never allowed (NULL-terminated);
	                               * names under an entry are denied too */
	const char *const *preapproved; /* names allowed at start (permanent scope);
	                               * one failing the policy fails fw_new */
	/* Optional: one-line notices a person should see (e.g. "TLS
	 * verification disabled"), also written to the audit log. Never a
	 * secret. Called from fw_new or fw_step. */
	void (*log)(void *log_data, const char *line);
	void *log_data;
};

/* fw_poll never fills more fds than this (a caller's array of this size
 * is always enough). */
#define FW_POLL_FDS 16

struct fw;

/* Who asked, for the audit log and scopes. */
struct fw_actor {
	const char *user;     /* user name or id; NULL: "relay" */
	const char *session;  /* session id or NULL */
	enum fw_scope scope;
};

typedef void (*fw_done_cb)(void *data, int rc, const char *msg);
typedef void (*fw_list_cb)(void *data, int rc, const char *const *hosts, size_t n,
			   const char *msg);

/* Hostname policy (pure; no I/O). Normalises in (lower case, one trailing
 * dot removed, IDN to punycode via UTS #46) into out (FW_HOST_MAX + 1
 * bytes) and validates it: RFC 1123 labels, length limits; IP literals in
 * any notation (0x7f.1, 2130706433), CIDRs, URLs, wildcards, ports,
 * userinfo, underscores, whitespace and control bytes are refused, as are
 * single-label names (their meaning depends on the resolver's search
 * list), a last label of digits, labels mixing scripts (Latin with
 * Cyrillic: look-alikes), the built-in deny names (cloud metadata,
 * localhost, .local, .arpa) and `deny` (each entry and names under it).
 * Returns 0 or -EINVAL with the reason in why (on failure out is ""). */
int fw_host_normalize(const char *in, const char *const *deny, char *out, size_t outlen,
		      char *why, size_t whylen);

int fw_new(const struct fw_opts *o, struct fw **out, char *err, size_t errlen);
void fw_free(struct fw *f);

/* Queue a change or a query. -EINVAL (policy, or a session scope without a
 * session id; msg in err) is returned at once and audited; otherwise 0 and
 * cb (may be NULL) runs later from fw_step. fw_remove revokes the host
 * whatever its scopes. fw_list is queued too: it answers after the changes
 * queued before it (from the backend, or from the table when the backend
 * cannot list). */
int fw_add(struct fw *f, const char *host, const struct fw_actor *who, fw_done_cb cb,
	   void *data, char *err, size_t errlen);
int fw_remove(struct fw *f, const char *host, const struct fw_actor *who, fw_done_cb cb,
	      void *data, char *err, size_t errlen);
int fw_list(struct fw *f, fw_list_cb cb, void *data);

/* Records a denial (nothing to apply; audit only). */
int fw_deny(struct fw *f, const char *host, const struct fw_actor *who, const char *reason);

/* A session ended: its session-scoped hosts are removed unless still
 * needed. Queued like a change, so approvals queued before it count. cb
 * (may be NULL) runs when done, rc the first removal's failure if any.
 * -EINVAL for an empty session id. */
int fw_session_ended(struct fw *f, const char *session, fw_done_cb cb, void *data);

/* 1 when host is currently allowed (cached view: an add was applied and no
 * removal since). host is normalised here first; a name the policy refuses
 * is never allowed. */
int fw_is_allowed(const struct fw *f, const char *host);

/* The loop contract (see the top). Fills up to max entries of fds and
 * returns how many; *deadline_ms is an absolute CLOCK_MONOTONIC time in ms
 * or UINT64_MAX. */
size_t fw_poll(struct fw *f, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
void fw_step(struct fw *f);

/* Backend name for status ("opnsense", ...). */
const char *fw_backend_name(const struct fw *f);

#endif
