#!/usr/bin/env bash
# Times `levee analyze` on a combined-format access log against GoAccess on the same log, and
# measures levee's peak memory on a log of 10 million distinct client addresses.
# Usage: bench/logs.sh [DURATION_SECONDS]   (default 3600: about 1.7 million lines)
#
# The log is the synthetic web shop of `levee synth --http` (browsing sessions, crawlers and
# the four layer-7 attacks), kept in bench/out/ between runs. GoAccess is installed with
# `apt-get install goaccess` when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-3600}
out=bench/out
mkdir -p "$out"
log="$out/shop-$duration.log"
distinct="$out/distinct-10m.log"

command -v goaccess >/dev/null || apt-get install -y goaccess >/dev/null
command -v /usr/bin/time >/dev/null || { echo "missing /usr/bin/time (apt-get install time)"; exit 1; }

cargo build --release --quiet
levee=target/release/levee
[ -f "$log" ] || "$levee" synth --http --duration "$duration" --sessions-per-second 5 --out "$log" --force
if [ ! -f "$distinct" ]; then
  # One request from each of 10 million addresses.
  awk 'BEGIN { for (i = 0; i < 10000000; i++) {
    printf "%d.%d.%d.%d - - [15/Jan/2026:12:%02d:%02d +0000] \"GET /p%d HTTP/1.1\" 200 100 \"-\" \"Mozilla/5.0\"\n",
      16 + int(i / 16777216), int(i / 65536) % 256, int(i / 256) % 256, i % 256,
      int(i / 600000) % 60, int(i / 10000) % 60, i % 50 } }' > "$distinct"
fi
lines=$(wc -l < "$log")
cat "$log" "$distinct" > /dev/null

# run KEY NAME COMMAND...: best wall time of 3 runs (kept in $out/KEY.t) and the peak RSS of
# the last.
run() {
  local key=$1 name=$2; shift 2
  local best="" rss=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > /dev/null 2>&1 || true
    read -r t m < "$out/time.txt"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    rss=$m
  done
  printf "%-46s %8.2f s %10.0f ${unit:-lines}/s %8.1f MiB\n" "$name" "$best" \
    "$(awk "BEGIN{print $lines / ($best > 0 ? $best : 0.001)}")" "$(awk "BEGIN{print $rss/1024}")"
  echo "$best" > "$out/$key.t"
}

echo "log: $log ($(du -h "$log" | cut -f1), $lines lines)"
run logs "levee logs (read and parse)" "$levee" logs "$log"
run l7 "levee analyze (2 passes: profiles, verdicts)" "$levee" analyze "$log"
run l7t2 "levee analyze --threads 2 (clients shared)" "$levee" analyze --threads 2 "$log"
run goaccess "goaccess --log-format=COMBINED -o json" goaccess "$log" --log-format=COMBINED -o "$out/goaccess.json"
l=$(cat "$out/l7.t")
g=$(cat "$out/goaccess.t")
awk -v l="$l" -v g="$g" 'BEGIN { printf "speed of levee analyze relative to GoAccess: %.1fx\n", g / l }'
echo
echo "10 million distinct client addresses: $distinct"
/usr/bin/time -f "%e s, peak %M KB" "$levee" analyze "$distinct" 2>&1 >/dev/null | tail -1
/usr/bin/time -f "%e s, peak %M KB (2 threads)" "$levee" analyze --threads 2 "$distinct" 2>&1 >/dev/null | tail -1

# HTTP from a capture: the same shop over TCP (requests split, reordered, pipelined; every
# client's TLS hello), reassembled by levee and by tshark's HTTP dissector.
pcap="$out/shop-capture-600.pcap"
[ -f "$pcap" ] || "$levee" synth --http --capture --scenario http-mix+bad-bot+slowloris --duration 600 --sessions-per-second 5 --out "$pcap" --force
command -v tshark >/dev/null || apt-get install -y tshark >/dev/null
lines=$("$levee" requests "$pcap" 2>/dev/null | wc -l)
unit=requests
echo
echo "capture: $pcap ($(du -h "$pcap" | cut -f1), $lines requests)"
run req "levee requests (reassembly to a log)" "$levee" requests "$pcap"
run http "levee analyze --http (2 passes)" "$levee" analyze --http "$pcap"
run tshark "tshark -Y http.request -T fields" tshark -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y http.request -T fields -e http.request.uri
r=$(cat "$out/req.t")
t=$(cat "$out/tshark.t")
awk -v r="$r" -v t="$t" 'BEGIN { printf "speed of levee requests relative to tshark: %.1fx\n", t / r }'
