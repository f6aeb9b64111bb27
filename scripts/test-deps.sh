#!/usr/bin/env bash
# Installs, from Debian's packages, the real tools the test suite drives.
# Only what is missing is installed; without root it only reports.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have tcpdump   || need+=(tcpdump)
have tshark    || need+=(tshark)
have tcptrace  || need+=(tcptrace)
have tcpreplay || need+=(tcpreplay)
have ip        || need+=(iproute2)
have chromium  || need+=(chromium)
have curl      || need+=(curl)
have prometheus || need+=(prometheus)  # scrapes a web node (native histograms)
have systemd-analyze || need+=(systemd)  # checks contrib/ units
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "test-deps: missing ${need[*]}; install them as root (tests that need them will skip)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
