#!/bin/sh
# topology.sh — the three network namespaces the nftables tests run in.
#
#   sandbox ──sbx0/sbx1── router ──up0/up1── internet
#   192.0.2.2             192.0.2.1          198.51.100.2
#   2001:db8:1::2         198.51.100.1       services on lo:
#                         (nft table here)     203.0.113.10/.11/.12 web (HTTP :80)
#                                              203.0.113.53 resolver (dnsmasq)
#                                              203.0.113.54 another DNS server
#                                              2001:db8:3::10/::11 web, ::53 resolver
#
# Only documentation ranges (RFC 5737, RFC 3849): nothing here can be
# mistaken for, or routed to, a real host; the namespaces have no link to
# the outside at all.
#
#   topology.sh up PREFIX DIR     create PREFIX-{sandbox,router,internet},
#                                 run dnsmasq (hosts file DIR/hosts, TTL 1 s)
#                                 and python3 -m http.server (serving DIR/www)
#                                 inside the internet namespace
#   topology.sh down PREFIX       kill every process inside the three
#                                 namespaces (ip netns pids) and delete them
#   topology.sh gc                `down` for every smrnft-PID-* whose PID is
#                                 dead (a test process that crashed before
#                                 its cleanup ran), and its /tmp/smrnft-PID-*
#                                 dir
#
# PREFIX is smrnft-<test pid>-<n>: unique per test, so suites running in
# parallel never share a namespace. Exit status non-zero on any failure of
# `up` (after undoing what it did).
set -u

ns_down() {
	for role in sandbox router internet; do
		ns="$1-$role"
		[ -e "/run/netns/$ns" ] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
}

gc() {
	for f in /run/netns/smrnft-*-router; do
		[ -e "$f" ] || continue
		prefix=$(basename "$f" -router)
		pid=$(echo "$prefix" | cut -d- -f2)
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
		ns_down "$prefix"
	done
	# The lab's temp dirs: /tmp/smrnft-PID-N-XXXXXX (test_fw_nft_lab.c).
	for d in /tmp/smrnft-[0-9]*-[0-9]*-*; do
		[ -d "$d" ] || continue
		pid=$(basename "$d" | cut -d- -f2)
		case "$pid" in *[!0-9]* | "") continue ;; esac
		kill -0 "$pid" 2>/dev/null && continue
		rm -rf "$d"
	done
}

up() {
	p="$1" dir="$2"
	S="$p-sandbox" R="$p-router" I="$p-internet"
	set -e
	ip netns add "$S"
	ip netns add "$R"
	ip netns add "$I"
	for ns in "$S" "$R" "$I"; do
		ip -n "$ns" link set lo up
		# No duplicate address detection: addresses are usable at once.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	ip -n "$S" link add sbx1 type veth peer name sbx0 netns "$R"
	ip -n "$R" link add up0 type veth peer name up1 netns "$I"

	ip -n "$S" addr add 192.0.2.2/24 dev sbx1
	ip -n "$S" addr add 2001:db8:1::2/64 dev sbx1 nodad
	ip -n "$S" link set sbx1 up
	ip -n "$S" route add default via 192.0.2.1
	ip -n "$S" -6 route add default via 2001:db8:1::1

	ip -n "$R" addr add 192.0.2.1/24 dev sbx0
	ip -n "$R" addr add 2001:db8:1::1/64 dev sbx0 nodad
	ip -n "$R" addr add 198.51.100.1/24 dev up0
	ip -n "$R" addr add 2001:db8:2::1/64 dev up0 nodad
	ip -n "$R" link set sbx0 up
	ip -n "$R" link set up0 up
	ip -n "$R" route add 203.0.113.0/24 via 198.51.100.2
	ip -n "$R" -6 route add 2001:db8:3::/64 via 2001:db8:2::2

	ip -n "$I" addr add 198.51.100.2/24 dev up1
	ip -n "$I" addr add 2001:db8:2::2/64 dev up1 nodad
	ip -n "$I" link set up1 up
	ip -n "$I" route add default via 198.51.100.1
	ip -n "$I" -6 route add default via 2001:db8:2::1
	for a in 10 11 12 53 54; do
		ip -n "$I" addr add "203.0.113.$a/32" dev lo
	done
	for a in 10 11 53; do
		ip -n "$I" addr add "2001:db8:3::$a/128" dev lo
	done

	mkdir -p "$dir/www"
	[ -e "$dir/www/index.html" ] || echo "smrelay-netns-ok" >"$dir/www/index.html"
	[ -e "$dir/hosts" ] || : >"$dir/hosts"
	# --user=root: the hosts file lives in a private temp dir that the
	# default "nobody" could not re-read on SIGHUP. --local=/test/: names
	# under .test are answered here only (NXDOMAIN when unknown), nothing is
	# forwarded. --local-ttl=1: answers from the hosts file expire after 1 s
	# so re-resolution is observable quickly.
	ip netns exec "$I" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
		--addn-hosts="$dir/hosts" --local=/test/ --local-ttl=1 \
		--listen-address=203.0.113.53 --listen-address=203.0.113.54 \
		--listen-address=2001:db8:3::53 --bind-interfaces \
		--user=root --pid-file="$dir/dnsmasq.pid" --log-facility="$dir/dnsmasq.log" --log-queries
	# python3's http.server: on :: it serves IPv4 and IPv6 (dual stack).
	# Detached from our stdout: the caller reads that until EOF.
	ip netns exec "$I" python3 -m http.server 80 --bind :: --directory "$dir/www" \
		</dev/null >"$dir/http.log" 2>&1 &
	set +e
}

case "${1:-}" in
up)
	[ $# -eq 3 ] || { echo "usage: $0 up PREFIX DIR" >&2; exit 2; }
	gc
	if ! (up "$2" "$3"); then
		ns_down "$2"
		exit 1
	fi
	;;
down)
	[ $# -eq 2 ] || { echo "usage: $0 down PREFIX" >&2; exit 2; }
	ns_down "$2"
	;;
gc) gc ;;
*)
	echo "usage: $0 up PREFIX DIR | down PREFIX | gc" >&2
	exit 2
	;;
esac
