/*
 * fw_nft.h — internal: the nftables backend's configuration and ruleset
 * text (the backend itself is fw_backend_nft in fw_backend.h). Exposed so
 * tests can check option validation and the generated ruleset without
 * root.
 *
 * The backend owns one nft table (`inet smrelay` by default) and replaces
 * it as a whole, atomically, on every change: one `nft -f -` transaction
 * that creates the table if missing, deletes it and declares it again with
 * the current set elements. No packet ever sees a missing or half-built
 * table, and whatever was changed in the table by hand is put back.
 * The approved names are kept in state_dir/nft-<table>.names (when the
 * fw has a state_dir) so a restarted relay resolves and lists them again.
 * Hostnames never appear in the ruleset (only addresses the resolver
 * returned, printed with inet_ntop, and validated options).
 *
 * Ownership: plain structs, no pointers into the options; fw_nft_ruleset
 * returns malloc'ed text the caller frees.
 * Errors: 0 or -EINVAL with the reason in err; NULL on out of memory.
 */
#ifndef FW_NFT_H
#define FW_NFT_H

#include <limits.h>
#include <stddef.h>

#include "fw.h"
#include "fw_nft_dns.h"

#define FW_NFT_MAX_CIDRS 8

struct fw_nft_cidr {
	struct fw_dns_addr net; /* host bits cleared */
	unsigned prefix;
};

struct fw_nft_conf {
	char nft[PATH_MAX];  /* the nft binary */
	char table[33];      /* [A-Za-z][A-Za-z0-9_]{0,31} */
	char iface[17];      /* "" or an interface name, a trailing '*' allowed */
	struct fw_nft_cidr cidr[FW_NFT_MAX_CIDRS];
	size_t ncidr;
	struct fw_dns_addr resolver;
	char resolver_text[64];
	unsigned min_ttl_s, max_ttl_s;
};

/* Validates and copies fw_nft_opts: table name, interface name, CIDR list
 * (comma- or space-separated, v4 and/or v6), resolver address (required),
 * TTL clamps (defaults 30 and 3600; min must not exceed max). At least one
 * of sandbox_iface / sandbox_cidr is required: a backend that filters
 * nothing would approve into the void. */
int fw_nft_conf_parse(const struct fw_nft_opts *o, struct fw_nft_conf *c, char *err,
		      size_t errlen);

/* The whole transaction for `nft -f -` with the sets holding addrs[0..n)
 * (any order, duplicates allowed). */
char *fw_nft_ruleset(const struct fw_nft_conf *c, const struct fw_dns_addr *addrs, size_t n);

/* The start-up transaction when names from an earlier run were loaded:
 * creates what is missing, keeps the sets' elements (the approved names
 * keep working until they are resolved again), re-declares the rules. */
char *fw_nft_ruleset_keep_sets(const struct fw_nft_conf *c);

#endif
