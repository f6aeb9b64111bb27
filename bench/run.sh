#!/usr/bin/env bash
# Benchmarks `pastmon analyze` on one core against tcpdump, tcptrace and
# tshark reading the same generated capture (≥ 1M packets of realistic TCP),
# then runs the Go benchmarks: per-packet cost and allocations of
# decode → track → aggregate, and flow-table memory per flow at 1M flows.
#
#   ./bench/run.sh                 # PACKETS=1200000 by default
#   PACKETS=3000000 ./bench/run.sh
#
# Rates are given per wall second and per CPU second (user+sys): on a busy
# machine the second is the one to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
F=$out/bench.pcap
packets=${PACKETS:-1200000}
if [ ! -s "$F" ] || [ "$(cat "$F.count" 2>/dev/null || echo 0)" -lt "$packets" ]; then
	go run ./bench/gen -o "$F" -packets "$packets" >"$F.count"
fi
n=$(cat "$F.count")
CGO_ENABLED=0 go build -o "$out/pastmon" .
echo "capture: $F, $n packets, $(du -h "$F" | cut -f1)"
echo

printf '%-34s %9s %9s %12s %12s %9s\n' tool wall_s cpu_s pkts/wall_s pkts/cpu_s maxRSS_MB
measure() {
	local name=$1
	shift
	if ! command -v "$1" >/dev/null 2>&1 && [ "$1" != env ]; then
		printf '%-34s %s\n' "$name" "skipped: $1 not installed"
		return
	fi
	/usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt" || {
		printf '%-34s %s\n' "$name" "failed: $(tail -1 "$out/stderr.txt")"
		return
	}
	read -r wall user sys rss <"$out/time.txt"
	awk -v name="$name" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
		c = u + s; if (w <= 0) w = 0.01; if (c <= 0) c = 0.01
		printf "%-34s %9.2f %9.2f %12.0f %12.0f %9.1f\n", name, w, c, n / w, n / c, r / 1024 }'
}
measure "GOMAXPROCS=1 pastmon analyze" env GOMAXPROCS=1 "$out/pastmon" analyze "$F"
measure "tcpdump -r F -w /dev/null" tcpdump -r "$F" -w /dev/null
measure "tcptrace -n -l -r F" tcptrace -n -l -r "$F"
measure "tshark -r F -q -z conv,tcp" tshark -r "$F" -q -z conv,tcp
echo
# The same traffic with HTTP/1.1 payloads: the cost of the protocol parsers.
H=$out/bench-http.pcap
if [ ! -s "$H" ] || [ "$(cat "$H.count" 2>/dev/null || echo 0)" -lt "$packets" ]; then
	go run ./bench/gen -http -snaplen 256 -o "$H" -packets "$packets" >"$H.count"
fi
n=$(cat "$H.count")
echo "HTTP capture: $H, $n packets, $(du -h "$H" | cut -f1), snap length 256"
measure "pastmon analyze (parsers on)" env GOMAXPROCS=1 "$out/pastmon" analyze "$H"
measure "pastmon analyze --protocols=false" env GOMAXPROCS=1 "$out/pastmon" analyze --protocols=false "$H"
measure "tcpdump -r H -w /dev/null" tcpdump -r "$H" -w /dev/null
measure "tshark -r H -q -z http,tree" tshark -r "$H" -q -z http,tree
echo
echo "Go benchmarks (GOMAXPROCS=1):"
GOMAXPROCS=1 go test -run '^$' -bench 'BenchmarkPipeline' -benchtime 3000000x ./capture/ | grep -E '^Benchmark'
GOMAXPROCS=1 go test -run '^$' -bench 'BenchmarkFlowMemory' -benchtime 1x ./capture/tcp/ | grep -E '^Benchmark'
GOMAXPROCS=1 go test -run '^$' -bench 'BenchmarkTrackerEstablished' ./capture/tcp/ | grep -E '^Benchmark'
GOMAXPROCS=1 go test -run '^$' -bench 'BenchmarkSnaplen' -benchtime 1x ./capture/proto/ | grep -E '^Benchmark'
