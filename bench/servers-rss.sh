#!/bin/sh
# servers-rss.sh measures the peak RSS (VmHWM) of a web node answering six
# concurrent GET /api/v1/servers (limit 1000, each sort order, a filter)
# with many servers stored: DESIGN's Limits want it bounded (256 MB).
#
#   bench/servers-rss.sh [servers]   (default 170000)
set -eu
n=${1:-170000}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
go build -o "$dir/pastmon" .
go run ./bench/serversdb -db "$dir/web.db" -servers "$n" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pw=bench-password-0123
"$dir/pastmon" web --db "$dir/web.db" --no-sensor --listen "127.0.0.1:$port" --admin-password "$pw" \
	--token bench-token-0123456789 >"$dir/web.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
	sleep 0.2
done
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
echo "servers stored: $n; RSS before: $(rss VmRSS) kB"
# Mapped database pages count in RSS as file-backed pages (page cache the
# kernel can reclaim); the anonymous part is the node's own memory. Sample
# its peak while the requests run.
(peak=0; while kill -0 $pid 2>/dev/null; do
	a=$(rss RssAnon); [ "${a:-0}" -gt "$peak" ] && peak=$a && echo "$peak" >"$dir/anon-peak"
	sleep 0.1
done) &
for round in 1 2; do
	curls=
	for q in "sort=worst&limit=1000" "sort=connections&limit=1000" "sort=server&limit=1000" \
		"sort=worst&limit=1000&offset=5000" "q=10.1.&limit=1000" "sort=connections&limit=100"; do
		curl -fs -u "admin:$pw" -o /dev/null -w "%{http_code} %{size_download} B %{time_total} s  $q\n" \
			"http://127.0.0.1:$port/api/v1/servers?$q" &
		curls="$curls $!"
	done
	wait $curls
	echo "round $round: RSS $(rss VmRSS) kB (anonymous $(rss RssAnon), file $(rss RssFile)), peak RSS (VmHWM) $(rss VmHWM) kB, peak anonymous $(cat "$dir/anon-peak") kB"
done
