#!/usr/bin/env bash
# Times `levee summary`, `levee analyze` (sampled and --exact, one and two threads), `levee report`
# and `levee simulate`
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
# The same flood at line rate: as many packets in 5 seconds (1 Mpps for 5 million) instead of
# packets / 20,000 (250 s; synth's benign 2,000 pps are a tenth of the traffic). A monitor's work
# per second of traffic (profiles, four decisions a second) weighs 50 times less in it, so the
# two figures bound the per-packet and per-second costs of `monitor --read`.
seconds=$((packets / 20000))
fast="$out/synflood-$packets-1mpps.pcap"
[ -f "$fast" ] || "$levee" synth --scenario syn-flood --packets "$packets" --benign-pps $((packets / 50)) \
  --out "$fast" --force

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

# The same 100 rules with every fifth of the first hundred on payloads (as in `cargo bench -p
# levee-rules`): slices of DNS answers, searches in NTP answers, lengths, each behind a header
# test; over the `multi` scenario (reflections of large answers beside a SYN flood), whose
# packets carry payloads those rules must read.
payload_rules="$out/rules-100-payload.toml"
multi="$out/multi-$((packets * 2 / 5)).pcap"
[ -f "$multi" ] || "$levee" synth --scenario multi --packets $((packets * 2 / 5)) --out "$multi" --force
{
  echo "version = 1"
  for i in $(seq 0 99); do
    a=$((i % 200 + 20)); b=$(((i * 7) % 250 + 1))
    case $((i % 5)):$((i % 3)) in
      4:0) e=$(printf 'udp.srcport == 53 and udp.payload[2:2] == 0x%04x' $(((i * 257) & 0xffff))) ;;
      4:1) e=$(printf 'udp.srcport == 123 and udp.payload contains 0x%08x' $((i * 7919))) ;;
      4:2) e="ip.proto == 17 and len(udp.payload) == $((1000 + i))" ;;
      0:*) e="ip.src in { $a.$b.0.0/16 $b.$a.3.0/24 }" ;;
      1:*) e="tcp.dstport == $((1000 + i)) and tcp.flags == 0x02 and ip.ttl in {$((a % 60))..$((a % 60 + 5))}" ;;
      2:*) e="udp.srcport == $((100 + i)) and ip.len > $((200 + b))" ;;
      *) e="ip.dst == 10.$a.$b.1 and ip.proto == 17" ;;
    esac
    printf "[[rule]]\nid = 'r%d'\nexpression = '%s'\naction = 'block'\n" "$i" "$e"
  done
} > "$payload_rules"

# Warm the page cache so every tool reads from memory.
cat "$cap" "$fast" "$multi" > /dev/null

# This 2-core machine is shared and its speed drifts by tens of percent within minutes, so the
# levee commands and tcpdump are timed in interleaved rounds (each round runs every command
# once) and each keeps its best time: a slow minute then slows every command alike instead of
# whichever happened to run in it.
rounds=${ROUNDS:-5}
names=(summary analyze1 analyze2 exact1 exact2 report rules100 payload100 payload100t2 monitor monitorfast tcpdump)
labels=("levee summary" "levee analyze (1 thread)" "levee analyze --threads 2"
  "levee analyze --exact (2 readings)" "levee analyze --exact --threads 2"
  "levee report (3 passes, 1 thread)" "levee simulate --rules-only (100 rules, 1 thread)"
  "levee simulate --rules-only (20 on payloads, 1)*" "levee simulate --rules-only (20 on payloads, 2)*"
  "levee monitor --read ($seconds s of traffic)" "levee monitor --read (same packets in 5 s)"
  "tcpdump -w /dev/null 'tcp[tcpflags]==tcp-syn'")
command_of() {
  case $1 in
    summary) echo "$levee summary $cap" ;;
    analyze1) echo "$levee analyze $cap" ;;
    analyze2) echo "$levee analyze --threads 2 $cap" ;;
    exact1) echo "$levee analyze --exact $cap" ;;
    exact2) echo "$levee analyze --exact --threads 2 $cap" ;;
    report) echo "$levee report $cap --out $out/report --force" ;;
    rules100) echo "$levee simulate --rules-only --threads 1 --rules $rules $cap" ;;
    payload100) echo "$levee simulate --rules-only --threads 1 --rules $payload_rules $multi" ;;
    payload100t2) echo "$levee simulate --rules-only --threads 2 --rules $payload_rules $multi" ;;
    # A new incident database each run (removed after the rounds).
    monitor) echo "$levee monitor --db $out/monitor.$(date +%s%N).db --read $cap" ;;
    monitorfast) echo "$levee monitor --db $out/monitor.$(date +%s%N).db --read $fast" ;;
    tcpdump) echo "tcpdump -n -r $cap -w /dev/null tcp[tcpflags]==tcp-syn" ;;
  esac
}
# time_once KEY: one run; keeps the best wall time in $out/KEY.t and the peak RSS in $out/KEY.m.
time_once() {
  local key=$1
  # Word splitting of the command is wanted; globbing (the brackets of the filter) is not.
  set -f
  local start end
  start=$(date +%s%N)
  # shellcheck disable=SC2046
  /usr/bin/time -f "%M" -o "$out/time.txt" $(command_of "$key") > /dev/null 2>&1
  end=$(date +%s%N)
  set +f
  # Wall time in milliseconds from the clock (time's own has only centiseconds).
  t=$(awk "BEGIN{printf \"%.3f\", ($end - $start) / 1e9}")
  read -r m < "$out/time.txt"
  echo "$t" >> "$out/$key.all"
  if [ ! -f "$out/$key.t" ] || awk "BEGIN{exit !($t < $(cat "$out/$key.t"))}"; then
    echo "$t" > "$out/$key.t"
  fi
  echo "$m" > "$out/$key.m"
}
print_row() {
  local label=$1 key=$2 best rss n=$packets
  # The payload rules run over the multi capture, of 2/5 as many packets.
  case $key in payload100*) n=$((packets * 2 / 5)) ;; esac
  best=$(cat "$out/$key.t"); rss=$(cat "$out/$key.m")
  printf '%-44s %8.3f s %10.0f pps %8.1f MiB\n' "$label" "$best" \
    "$(awk "BEGIN{print $n / ($best > 0 ? $best : 0.001)}")" "$(awk "BEGIN{print $rss/1024}")"
}

echo "capture: $cap ($(du -h "$cap" | cut -f1), $packets packets), best of $rounds interleaved rounds"
echo "(*: on $multi, $(du -h "$multi" | cut -f1), $((packets * 2 / 5)) packets)"
printf '%-44s %10s %14s %12s\n' tool time rate "peak RSS"
for key in "${names[@]}"; do rm -f "$out/$key.t" "$out/$key.all"; done
for _ in $(seq "$rounds"); do
  for key in "${names[@]}"; do time_once "$key"; done
done
rm -f "$out"/monitor.*.db*
for i in "${!names[@]}"; do print_row "${labels[$i]}" "${names[$i]}"; done
# tshark takes minutes on 5 million packets: once is enough.
rm -f "$out/tshark.t"
/usr/bin/time -f "%e %M" -o "$out/time.txt" tshark -n -q -r "$cap" -z endpoints,ip > /dev/null 2>&1
read -r t m < "$out/time.txt"; echo "$t" > "$out/tshark.t"; echo "$m" > "$out/tshark.m"
print_row "tshark -q -z endpoints,ip" tshark

t() { cat "$out/$1.t"; }
echo
awk -v l="$(t summary)" -v a1="$(t analyze1)" -v a2="$(t analyze2)" -v x1="$(t exact1)" -v x2="$(t exact2)" -v d="$(t tcpdump)" -v s="$(t tshark)" -v r="$(t rules100)" -v m="$(t monitor)" -v mf="$(t monitorfast)" 'BEGIN {
  printf "levee summary: %.1f million packets per second\n", '"$packets"' / l / 1e6;
  printf "speed of levee summary relative to tcpdump: %.2fx (above 1: levee is faster)\n", d / l;
  printf "speed of levee summary relative to tshark:  %.2fx\n", s / l;
  printf "levee analyze: %.1f million packets per second on one thread\n", '"$packets"' / a1 / 1e6;
  printf "speed of levee analyze relative to tcpdump: %.2fx; to tshark: %.2fx\n", d / a1, s / a1;
  printf "levee analyze speed-up on 2 threads (best against best): %.2fx\n", a1 / a2;
  printf "levee analyze --exact: %.1f million packets per second on one thread, %.2fx on 2 threads\n", '"$packets"' / x1 / 1e6, x1 / x2;
  printf "speed of 100 rules (simulate --rules-only) relative to tcpdump with one filter: %.2fx\n", d / r;
  printf "levee monitor --read: %.1f million packets per second ('"$seconds"' s of traffic), %.1f with the same packets in 5 s\n", '"$packets"' / m / 1e6, '"$packets"' / mf / 1e6;
}'
# The two-thread speed-up within each round (both runs seconds apart): how steady it is. The
# ratio of the two best times above can pair a one-thread run from a fast minute with a
# two-thread run from a slow one; the median of the rounds does not.
paste -d' ' "$out/analyze1.all" "$out/analyze2.all" | awk '{ print $1 / $2 }' | sort -n | awk '
  { r[NR] = $1; s = s sprintf(" %.2f", $1) }
  END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
        printf "levee analyze speed-up on 2 threads, round by round (sorted):%s; median %.2fx\n", s, m }'
# One thread, round by round: the median rate and the median ratio to tcpdump run in the same
# round, steadier figures than a best time when the machine's speed drifts.
paste -d' ' "$out/analyze1.all" "$out/tcpdump.all" | awk -v n="$packets" '
  { a[NR] = $1; r[NR] = $2 / $1 }
  function median(x, k,   i, j, t) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    return (k % 2) ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2
  }
  END { printf "levee analyze on one thread, median of the rounds: %.1f million packets per second, %.2fx tcpdump'"'"'s speed\n", n / median(a, NR) / 1e6, median(r, NR) }'
