#!/usr/bin/env bash
# Regenerates default.pgo: the CPU profile that go build uses for
# profile-guided optimisation of pastmon (and bench/live.sh of livecap).
# It profiles the per-packet path, decode → track → aggregate, over the
# traffic bench/live.sh replays, so the compiler inlines and devirtualises
# where packets go. Commit the result; regenerate after large changes to
# the pipeline.
#
# Usage: bench/pgo.sh        (env: PACKETS=1000000 ROUNDS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${PACKETS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./bench/livegen -o "$work/live.pcap" -packets "$packets"
PASTMON_BENCH_PCAP="$work/live.pcap" PASTMON_BENCH_PPS=400000 \
	go test -run '^$' -bench '^BenchmarkPipelineFile$' -benchtime "$((packets * ${ROUNDS:-20}))x" \
	-o "$work/capture.test" -cpuprofile "$work/cpu.pprof" ./capture/
cp "$work/cpu.pprof" default.pgo
echo "wrote default.pgo ($(wc -c <default.pgo) bytes)"
