#!/usr/bin/env bash
# Live-capture benchmark: pastmon's AF_PACKET ring plus the full analysis
# pipeline against tcpdump, side by side in one run.
#
# It generates a pcap of realistic TCP (bench/livegen), makes a veth pair
# inside a network namespace of its own, replays the pcap at top speed
# (tcpreplay --topspeed) into one end and captures on the other: first with
# tcpdump -w /dev/null, then with bench/livecap (capture/live feeding
# capture.Run). For each it prints the replay rate, the packets the kernel
# passed to the capture, its drops and the capturer's CPU time per million
# packets. Both get the same 64 MiB of kernel buffer and snap length 256.
#
# Usage: sudo bench/live.sh        (env: PACKETS=1200000 ROUNDS=1 PIN=1 SNAP=256)
#
# CPUPROFILE=FILE also writes the CPU profile of pastmon's full analysis,
# merged over the rounds (bench/pgo.sh makes default.pgo of it); profiling
# adds to the CPU times shown.
set -euo pipefail
PACKETS=${PACKETS:-1200000}
ROUNDS=${ROUNDS:-1}
SNAP=${SNAP:-256}
if [ "$(id -u)" != 0 ]; then
	echo "live.sh: needs root (network namespaces, tcpreplay)" >&2
	exit 1
fi
for tool in ip tcpdump tcpreplay go; do
	command -v $tool >/dev/null || { echo "live.sh: $tool not found (scripts/test-deps.sh installs it)" >&2; exit 1; }
done
cd "$(dirname "$0")/.."
work=$(mktemp -d)
ns=pmbench$$
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/livegen" ./bench/livegen
# Built with default.pgo, as go build builds pastmon itself.
go build -pgo=default.pgo -o "$work/livecap" ./bench/livecap
"$work/livegen" -o "$work/traffic.pcap" -packets "$PACKETS"

ip netns add "$ns"
# No IPv6 neighbour discovery on the veths.
ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
ip -n "$ns" link set lo up
ip -n "$ns" link add rep0 type veth peer name cap0
ip -n "$ns" link set rep0 up
ip -n "$ns" link set cap0 up

tck=$(getconf CLK_TCK)

# With taskset (and 2+ CPUs), tcpreplay runs on CPU 0 and the capturer on
# CPU 1, so that the two do not take turns on one CPU and the receive work
# the kernel does in tcpreplay's context is not charged to the capturer.
# PIN=0 leaves placement to the scheduler.
pin_replay=() pin_capture=()
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin_replay=(taskset -c 0) pin_capture=(taskset -c 1)
fi

# cpu PID: CPU seconds the process has used so far, all threads: from the
# scheduler's nanosecond count, else from user+system clock ticks.
cpu() {
	local sum=0 ns
	if [ -r "/proc/$1/schedstat" ]; then
		for f in /proc/"$1"/task/*/schedstat; do
			read -r ns _ <"$f" && sum=$((sum + ns))
		done
		awk -v ns="$sum" 'BEGIN { printf "%.3f", ns / 1e9 }'
	else
		awk -v tck="$tck" '{ printf "%.2f", ($14 + $15) / tck }' "/proc/$1/stat"
	fi
}

# The CPU time counted is what the capturer uses from the moment it is
# ready until the replay is over: setting the ring up (the kernel zeroes
# it, some 10-40 ms for either tool here) is not per-packet work.
settle() { sleep 0.5; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# wait_for FILE TEXT: until TEXT appears in FILE (the capturer is ready).
wait_for() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "live.sh: capturer did not start:" >&2
	cat "$1" >&2
	return 1
}

# replay OUT: replays the pcap into rep0; prints the achieved packets/s.
replay() {
	ip netns exec "$ns" "${pin_replay[@]}" tcpreplay --topspeed --preload-pcap -i rep0 "$work/traffic.pcap" >"$1" 2>&1
	grep -o '[0-9.]* pps' "$1" | head -1 | cut -d' ' -f1
}

# Each run_* sets: pps, seen (packets the kernel passed), drops, cpus.
run_tcpdump() {
	ip netns exec "$ns" "${pin_capture[@]}" tcpdump -i cap0 -s "$SNAP" -B 65536 -nn -w /dev/null 2>"$work/tcpdump.err" &
	local pid=$!
	wait_for "$work/tcpdump.err" "listening on"
	settle
	setup=$(cpu $pid)
	pps=$(replay "$work/replay.tcpdump")
	sleep 2
	cpus=$(since "$setup" "$(cpu $pid)")
	kill -INT $pid
	wait $pid || true
	seen=$(awk '/received by filter/ { print $1 }' "$work/tcpdump.err")
	drops=$(awk '/dropped by kernel/ { print $1 }' "$work/tcpdump.err")
}

# run_pastmon [-count]: -count only reads the ring, without analysis.
run_pastmon() {
	ip netns exec "$ns" "${pin_capture[@]}" "$work/livecap" -i cap0 -s "$SNAP" "$@" >"$work/livecap.out" 2>"$work/livecap.err" &
	local pid=$!
	wait_for "$work/livecap.out" "ready"
	settle
	setup=$(cpu $pid)
	pps=$(replay "$work/replay.pastmon")
	sleep 2
	cpus=$(since "$setup" "$(cpu $pid)")
	kill -INT $pid
	wait $pid
	seen=$(sed -n 's/^kernel_packets=//p' "$work/livecap.out")
	drops=$(sed -n 's/^kernel_drops=//p' "$work/livecap.out")
	[ "${1:-}" = -count ] || decoded=$(sed -n 's/^decoded=//p' "$work/livecap.out")
}

per_m() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.3f", c / (n / 1e6); else print "n/a" }'; }

echo "live-capture benchmark${pin_replay:+ (tcpreplay on CPU 0, capture on CPU 1)}: $PACKETS packets ($(du -h "$work/traffic.pcap" | cut -f1)), veth, snaplen $SNAP, 64 MiB buffer, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
row() { printf '%-28s %14s %14s %14s\n' "$@"; }
sum_t=0 sum_p=0 sum_r=0
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }
for round in $(seq "$ROUNDS"); do
	run_tcpdump
	t_pps=$pps t_seen=$seen t_drops=$drops t_cpu=$cpus
	run_pastmon ${CPUPROFILE:+-cpuprofile "$work/cpu.$round.pprof"}
	p_pps=$pps p_seen=$seen p_drops=$drops p_cpu=$cpus
	run_pastmon -count
	r_pps=$pps r_seen=$seen r_drops=$drops r_cpu=$cpus
	t_per=$(per_m "$t_cpu" "$t_seen")
	p_per=$(per_m "$p_cpu" "$p_seen")
	r_per=$(per_m "$r_cpu" "$r_seen")
	ratio() { awk -v a="$1" -v b="$t_per" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
	echo
	echo "round $round"
	row "" tcpdump "pastmon full" "pastmon ring"
	row "replay rate (packets/s)" "$t_pps" "$p_pps" "$r_pps"
	row "packets sent" "$PACKETS" "$PACKETS" "$PACKETS"
	row "received by filter" "$t_seen" "$p_seen" "$r_seen"
	row "kernel drops" "$t_drops" "$p_drops" "$r_drops"
	row "CPU seconds" "$t_cpu" "$p_cpu" "$r_cpu"
	row "CPU s per million packets" "$t_per" "$p_per" "$r_per"
	row "CPU relative to tcpdump" "1.00x" "$(ratio "$p_per")" "$(ratio "$r_per")"
	echo "pastmon full decoded $decoded TCP segments"
	sum_t=$(add "$sum_t" "$t_per") sum_p=$(add "$sum_p" "$p_per") sum_r=$(add "$sum_r" "$r_per")
done
# Runs vary by ±20% here (other tenants of the host); the mean over
# rounds is the figure to compare.
if [ "$ROUNDS" -gt 1 ]; then
	mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN { printf "%.3f", s / n }'; }
	t_per=$(mean "$sum_t")
	echo
	echo "mean of $ROUNDS rounds"
	row "CPU s per million packets" "$t_per" "$(mean "$sum_p")" "$(mean "$sum_r")"
	row "CPU relative to tcpdump" "1.00x" "$(ratio "$(mean "$sum_p")")" "$(ratio "$(mean "$sum_r")")"
fi
if [ -n "${CPUPROFILE:-}" ]; then
	go tool pprof -proto "$work"/cpu.*.pprof >"$CPUPROFILE"
	echo "CPU profile of pastmon full: $CPUPROFILE"
fi
