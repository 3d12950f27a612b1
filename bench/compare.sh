#!/usr/bin/env bash
# Times `levee summary`, `levee analyze` (one and two threads), `levee report` and `levee simulate`
# with 100 rules against tcpdump and tshark on
# the same synthetic capture and prints the ratios and peak memory.
# Usage: bench/compare.sh [PACKETS]   (default 5000000)
#
# The capture is a spoofed SYN flood (90 % SYNs from random sources, 10 % benign web and DNS
# traffic) made by `levee synth`, kept in bench/out/ between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-5000000}
out=bench/out
mkdir -p "$out"
cap="$out/synflood-$packets.pcap"

for tool in tcpdump tshark /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install tcpdump tshark time)"; exit 1; }
done

cargo build --release --quiet
levee=target/release/levee
[ -f "$cap" ] || "$levee" synth --scenario syn-flood --packets "$packets" --out "$cap" --force

# 100 rules of the shapes people write (the same as `cargo bench -p levee-rules`): address
# sets, port + flag + TTL, port + length, destination + protocol, ICMP type + length.
rules="$out/rules-100.toml"
{
  echo "version = 1"
  for i in $(seq 0 99); do
    a=$((i % 200 + 20)); b=$(((i * 7) % 250 + 1))
    case $((i % 5)) in
      0) e="ip.src in { $a.$b.0.0/16 $b.$a.3.0/24 }" ;;
      1) e="tcp.dstport == $((1000 + i)) and tcp.flags == 0x02 and ip.ttl in {$((a % 60))..$((a % 60 + 5))}" ;;
      2) e="udp.srcport == $((100 + i)) and ip.len > $((200 + b))" ;;
      3) e="ip.dst == 10.$a.$b.1 and ip.proto == 17" ;;
      *) e="icmp.type == 8 and ip.len > $((500 + b))" ;;
    esac
    printf "[[rule]]\nid = 'r%d'\nexpression = '%s'\naction = 'block'\n" "$i" "$e"
  done
} > "$rules"

# Warm the page cache so every tool reads from memory.
cat "$cap" > /dev/null

# run REPEATS NAME COMMAND...: best wall time of REPEATS runs, and peak RSS of the last.
# The third argument names the result file.
run() {
  local repeats=$1 name=$2 key=$3; shift 3
  local best="" rss=""
  for _ in $(seq "$repeats"); do
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > /dev/null 2>&1
    read -r t m < "$out/time.txt"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    rss=$m
  done
  printf '%-44s %8.2f s %10.0f pps %8.1f MiB\n' "$name" "$best" \
    "$(awk "BEGIN{print $packets / ($best > 0 ? $best : 0.001)}")" "$(awk "BEGIN{print $rss/1024}")"
  echo "$best" > "$out/$key.t"
}

echo "capture: $cap ($(du -h "$cap" | cut -f1), $packets packets)"
printf '%-44s %10s %14s %12s\n' tool time rate "peak RSS"
run 3 "levee summary" summary "$levee" summary "$cap"
run 3 "levee analyze (2 passes, 1 thread)" analyze1 "$levee" analyze "$cap"
run 3 "levee analyze --threads 2" analyze2 "$levee" analyze --threads 2 "$cap"
run 3 "levee report (3 passes, 1 thread)" report "$levee" report "$cap" --out "$out/report" --force
run 3 "levee simulate --rules-only (100 rules)" rules100 "$levee" simulate --rules-only --rules "$rules" "$cap"
run 3 "tcpdump -w /dev/null 'tcp[tcpflags]==tcp-syn'" tcpdump tcpdump -n -r "$cap" -w /dev/null 'tcp[tcpflags] == tcp-syn'
# tshark takes minutes on 5 million packets: once is enough.
run 1 "tshark -q -z endpoints,ip" tshark tshark -n -q -r "$cap" -z endpoints,ip

t() { cat "$out/$1.t"; }
echo
awk -v l="$(t summary)" -v a1="$(t analyze1)" -v a2="$(t analyze2)" -v d="$(t tcpdump)" -v s="$(t tshark)" -v r="$(t rules100)" 'BEGIN {
  printf "speed of levee summary relative to tcpdump: %.2fx (above 1: levee is faster)\n", d / l;
  printf "speed of levee summary relative to tshark:  %.2fx\n", s / l;
  printf "speed of levee analyze relative to tcpdump: %.2fx; to tshark: %.2fx\n", d / a1, s / a1;
  printf "levee analyze speed-up on 2 threads:        %.2fx\n", a1 / a2;
  printf "speed of 100 rules (simulate --rules-only) relative to tcpdump with one filter: %.2fx\n", d / r;
}'
