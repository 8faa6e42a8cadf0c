#!/bin/sh
# install-build-deps.sh — installs, on Debian 12, whatever smrelay needs to
# build and test that is not installed yet. Run as root (or with sudo).
#   deploy/install-build-deps.sh          build dependencies
#   deploy/install-build-deps.sh --tests  also what the tests use (tmux, a
#                                         real OpenSSH server and client, git;
#                                         nftables, dnsmasq, iproute2 (and
#                                         python3's http.server) for the
#                                         nftables namespace tests; python3 and
#                                         openssl for the fake OPNsense;
#                                         python3-yaml and systemd's
#                                         systemd-analyze for the checks of
#                                         the deployment files; chromium,
#                                         nodejs and npm for the web chat's
#                                         browser test)
set -eu
pkgs="build-essential cmake pkg-config libtsm-dev libssh-dev libcurl4-openssl-dev
      libwebsockets-dev libcjson-dev libpcre2-dev libcriterion-dev libidn2-dev tmux"
[ "${1:-}" = "--tests" ] && pkgs="$pkgs tmux openssh-server openssh-client git python3 python3-aiohttp
      nftables dnsmasq-base iproute2 openssl python3-yaml systemd chromium nodejs"
# npm: NodeSource's nodejs package carries its own (and conflicts with Debian's)
[ "${1:-}" = "--tests" ] && ! command -v npm >/dev/null 2>&1 && pkgs="$pkgs npm"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-build-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
