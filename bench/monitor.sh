#!/usr/bin/env bash
# Live detection, levee against FastNetMon, on the same replay: in a network namespace with a
# veth pair, both watch one end (levee: `monitor --interface`; FastNetMon: its AF_PACKET
# mirror mode, Debian's package) while tcpreplay sends each shared attack capture into the
# other end at the capture's own pace. Prints, per capture, how long after the first packet
# was sent each alerted, and what each named. Then the highest rate `tcpreplay --topspeed`
# reaches into the veth, with the packets the kernel dropped for levee and for tcpdump
# (libpcap) reading the same interface at once.
#
# Usage: bench/monitor.sh        (root; apt-get install fastnetmon tcpreplay tcpdump iproute2)
# FastNetMon runs with its own defaults but for the host threshold, set to levee's 1,000 pps,
# and the networks it protects (10.10.10.0/24, the shared captures' victims).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/data/attacks
for tool in fastnetmon tcpreplay tcpdump ip; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install fastnetmon tcpreplay tcpdump iproute2)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }
[ -d "$shared" ] || { echo "needs $shared"; exit 1; }

cargo build --release --quiet
levee=$PWD/target/release/levee
out=$(mktemp -d /tmp/levee-bench-monitor.XXXXXX)
ns=levee-bench-$$
cleanup() {
  [ -n "${levee_pid:-}" ] && kill -TERM "$levee_pid" 2>/dev/null || true
  [ -n "${fnm_pid:-}" ] && kill -TERM "$fnm_pid" 2>/dev/null || true
  [ -n "${tcpdump_pid:-}" ] && kill -INT "$tcpdump_pid" 2>/dev/null || true
  sleep 1
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add v0 type veth peer name v1
for i in v0 v1; do
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
  ip -n "$ns" link set "$i" mtu 9000 up
done
# (Background jobs are started with `ip netns exec` itself, which executes the program in its
# place, so $! is the program's own pid.)
in_ns() { ip netns exec "$ns" "$@"; }
now() { date +%s.%N; }

# FastNetMon: a ban calls the notify script, which stamps the time and keeps what it says.
echo "10.10.10.0/24" > "$out/networks"
: > "$out/whitelist"
cat > "$out/notify.sh" <<EOF
#!/bin/sh
when=\$(date +%s.%N)
kind=\$(sed -n 's/^Attack type: //p' | head -n 1)
echo "\$when \$* \$kind" >> "$out/fastnetmon.bans"
EOF
chmod +x "$out/notify.sh"
sed -e "s|^interfaces = .*|interfaces = v1|" \
  -e "s|^mirror_afpacket = .*|mirror_afpacket = on|" \
  -e "s|^threshold_pps = .*|threshold_pps = 1000|" \
  -e "s|^networks_list_path = .*|networks_list_path = $out/networks|" \
  -e "s|^white_list_path = .*|white_list_path = $out/whitelist|" \
  -e "s|^notify_script_path = .*|notify_script_path = $out/notify.sh|" \
  -e "s|^pid_path = .*|pid_path = $out/fastnetmon.pid|" \
  -e "s|^cli_stats_file_path = .*|cli_stats_file_path = $out/fastnetmon.dat|" \
  -e "s|^cli_stats_ipv6_file_path = .*|cli_stats_ipv6_file_path = $out/fastnetmon6.dat|" \
  -e "s|^enable_api = .*|enable_api = off|" \
  -e "s|^disable_usage_report = .*|disable_usage_report = on|" \
  -e "s|^ban_time = .*|ban_time = 5|" \
  /etc/fastnetmon.conf > "$out/fastnetmon.conf"
ip netns exec "$ns" fastnetmon --configuration_file "$out/fastnetmon.conf" --log_file "$out/fastnetmon.log" \
  --disable_pid_logic > "$out/fastnetmon.out" 2>&1 &
fnm_pid=$!
ip netns exec "$ns" "$levee" monitor --interface v1 --db "$out/incidents.db" --alerts "$out/alerts.jsonl" \
  --quiet 5 --metrics "$out/metrics.prom" 2> "$out/levee.err" &
levee_pid=$!
sleep 3

printf "%-38s %-34s %-34s\n" "capture" "levee (start alert)" "FastNetMon (ban)"
for cap in "$shared"/*; do
  name=$(basename "$cap")
  alerts_before=$( (cat "$out/alerts.jsonl" 2>/dev/null || true) | wc -l)
  bans_before=$( (cat "$out/fastnetmon.bans" 2>/dev/null || true) | wc -l)
  sent=$(now)
  in_ns tcpreplay -q -i v0 "$cap" > /dev/null 2>&1
  sleep 12
  levee_first=$(tail -n +"$((alerts_before + 1))" "$out/alerts.jsonl" 2>/dev/null |
    python3 -c '
import json, sys, datetime
for line in sys.stdin:
    a = json.loads(line)
    if a["alert"] == "start":
        t = datetime.datetime.fromisoformat(a["at"].replace("Z", "+00:00")).timestamp()
        print(t, a["incident"]["vector"], a["incident"]["target"]); break
')
  fnm_first=$(tail -n +"$((bans_before + 1))" "$out/fastnetmon.bans" 2>/dev/null | awk '$5 == "ban" {print $1, $6, $2, $4 " pps"; exit}')
  fmt() {
    if [ -z "$1" ]; then echo "nothing"; return; fi
    set -- $1
    printf "%5.0f ms: %s" "$(echo "($1 - $sent) * 1000" | bc -l)" "${*:2}"
  }
  printf "%-38s %-34s %-34s\n" "$name" "$(fmt "$levee_first")" "$(fmt "$fnm_first")"
done

# The highest rate: the SYN flood looped at top speed, with tcpdump (libpcap's ring) reading
# the same interface as levee.
ip netns exec "$ns" tcpdump -i v1 -n -w /dev/null 2> "$out/tcpdump.err" &
tcpdump_pid=$!
sleep 2
drops_before=$(awk '/^levee_kernel_drops_total/ {print $2}' "$out/metrics.prom")
echo
in_ns tcpreplay -i v0 --topspeed --loop 30 "$shared/pkt.TCP.synflood.spoofed.pcap" 2>&1 |
  grep -E "Actual|Rated" | sed 's/^/tcpreplay --topspeed: /'
sleep 3
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true; tcpdump_pid=
drops_after=$(awk '/^levee_kernel_drops_total/ {print $2}' "$out/metrics.prom")
echo "levee:   $((drops_after - drops_before)) packets dropped by the kernel ($(awk '/^levee_kernel_packets_total/ {print $2}' "$out/metrics.prom") received in all)"
echo "tcpdump: $(grep -E 'dropped by kernel' "$out/tcpdump.err")"
kill -TERM "$levee_pid"; wait "$levee_pid" 2>/dev/null || true; levee_pid=
kill -TERM "$fnm_pid" 2>/dev/null; wait "$fnm_pid" 2>/dev/null || true; fnm_pid=
echo "levee's closing line: $(grep 'packets in' "$out/levee.err")"
echo "(files in $out)"
