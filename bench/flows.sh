#!/usr/bin/env bash
# Flows: times `levee analyze` and `levee summary` on a capture of NetFlow v5 exports (a
# spoofed SYN flood, every record from a new source: RECORDS distinct sources), with their
# peak memory, against nfdump on the same export (nfcapd stores it, `nfdump -s` ranks it), and
# measures `levee collect` receiving the export at 200,000 and 500,000 records a second on
# loopback (records counted, the kernel's drops).
# Usage: bench/flows.sh [RECORDS]   (default 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
out=bench/out
mkdir -p "$out"
cap="$out/exports-$records.pcap"

for tool in nfcapd nfdump /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nfdump time)"; exit 1; }
done

cargo build --release --quiet
cargo build --release --quiet -p levee-flow --example flow_exports
levee=target/release/levee
exports=target/release/examples/flow_exports
[ -f "$cap" ] || "$exports" write "$cap" "$records"

# Seconds and peak resident KiB of a command, best of three runs.
measure() {
  local best_s="" best_kb=""
  local t
  t=$(mktemp)
  for _ in 1 2 3; do
    /usr/bin/time -o "$t" -f "%e %M" "$@" >/dev/null 2>&1 || true
    local r
    r=$(tail -1 "$t")
    local s=${r% *} kb=${r#* }
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; best_kb=$kb; fi
  done
  rm -f "$t"
  echo "$best_s $best_kb"
}
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
rate() { awk "BEGIN{printf \"%.2f\", $records / $1 / 1e6}"; }

read -r a_s a_kb < <(measure "$levee" analyze "$cap")
read -r s_s s_kb < <(measure "$levee" summary "$cap")

# nfdump: nfcapd receives the same export, then ranks destinations by packets.
nfdir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
nfcapd -b 127.0.0.1 -p "$port" -w "$nfdir" -B 67108864 >/dev/null 2>&1 &
nf=$!
sleep 1
"$exports" send "$cap" "127.0.0.1:$port" 500000 >/dev/null
sleep 2
kill -TERM "$nf"; wait "$nf" 2>/dev/null || true
nf_flows=$(nfdump -R "$nfdir" -I | awk '/^Flows:/{print $2}')
read -r n_s n_kb < <(measure nfdump -R "$nfdir" -s dstip/packets -n 10)
read -r m_s m_kb < <(measure nfdump -R "$nfdir" -s srcip/packets -n 10)
rm -rf "$nfdir"

printf "%-52s %8s %10s %8s\n" "$records NetFlow v5 records" "seconds" "M rec/s" "peak MiB"
printf "%-52s %8s %10s %8s\n" "levee analyze (two passes)" "$a_s" "$(rate "$a_s")" "$((a_kb / 1024))"
printf "%-52s %8s %10s %8s\n" "levee summary" "$s_s" "$(rate "$s_s")" "$((s_kb / 1024))"
printf "%-52s %8s %10s %8s\n" "nfdump -s dstip/packets (on nfcapd's $nf_flows flows)" "$n_s" "$(rate "$n_s")" "$((n_kb / 1024))"
printf "%-52s %8s %10s %8s\n" "nfdump -s srcip/packets" "$m_s" "$(rate "$m_s")" "$((m_kb / 1024))"
echo "levee analyze takes $(ratio "$a_s" "$n_s")x the time of nfdump -s dstip, $(ratio "$a_s" "$m_s")x that of nfdump -s srcip"
echo "levee summary takes $(ratio "$s_s" "$n_s")x the time of nfdump -s dstip, $(ratio "$s_s" "$m_s")x that of nfdump -s srcip"

# The collector, paced.
for pace in 200000 500000; do
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 20000))
  "$levee" collect --quiet --listen "127.0.0.1:$port" >"$dir/out" 2>/dev/null &
  c=$!
  sleep 0.5
  sent=$("$exports" send "$cap" "127.0.0.1:$port" "$pace")
  sleep 1
  kill -INT "$c"; wait "$c" || true
  echo "levee collect at $pace records/s: $sent; $(head -2 "$dir/out" | tr '\n' ' ')"
  rm -rf "$dir"
done
