#!/usr/bin/env bash
# Regenerates default.pgo: the CPU profile that go build uses for
# profile-guided optimisation of pastmon (and bench/live.sh of livecap),
# so that the compiler inlines and devirtualises where packets go.
#
# As root, with the tools bench/live.sh needs, it profiles the live
# capture with full analysis under bench/live.sh's replay: ring, decode,
# track and aggregate, as a sensor runs them. Otherwise it profiles the
# same analysis over a capture file of that traffic
# (BenchmarkPipelineFile), which leaves the ring reader out.
# Commit the result; regenerate after large changes to the pipeline.
#
# Usage: [sudo] bench/pgo.sh        (env: PACKETS=2000000 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${PACKETS:-2000000}
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
live=1
[ "$(id -u)" = 0 ] || live=0
for tool in ip tcpdump tcpreplay; do
	command -v $tool >/dev/null || live=0
done
if [ $live = 1 ]; then
	CPUPROFILE="$work/cpu.pprof" PACKETS=$packets ROUNDS=$rounds ./bench/live.sh
else
	echo "pgo.sh: not root or no tcpreplay: profiling the pipeline over a file" >&2
	go run ./bench/livegen -o "$work/live.pcap" -packets "$packets"
	PASTMON_BENCH_PCAP="$work/live.pcap" PASTMON_BENCH_PPS=400000 \
		go test -run '^$' -bench '^BenchmarkPipelineFile$' -benchtime "$((packets * rounds * 5))x" \
		-o "$work/capture.test" -cpuprofile "$work/cpu.pprof" ./capture/
fi
cp "$work/cpu.pprof" default.pgo
echo "wrote default.pgo ($(wc -c <default.pgo) bytes)"
