#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time on the corpus checked in under
# fuzz/corpus/TARGET (new inputs go to a scratch copy, so the checked-in corpus stays small).
# A crash, a leak or a timeout fails the run and leaves the input in fuzz/artifacts/TARGET.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     (default 20; CI uses its default)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^levee-fuzz$')
cargo +nightly fuzz build --release 2>&1 | tail -n 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in $targets; do
  mkdir -p "$scratch/$t"
  echo "fuzz: $t for ${seconds} s"
  # -rss_limit_mb: a damaged length must never make levee allocate what it claims.
  set +e
  cargo +nightly fuzz run --release "$t" "$scratch/$t" "$PWD/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$scratch/$t.log" 2>&1
  status=$?
  set -e
  grep -E '^(#[0-9]+ *DONE|Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|thread .* panicked|.*Test unit written)' "$scratch/$t.log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $status); the input is in fuzz/artifacts/$t"
    tail -n 40 "$scratch/$t.log"
    exit 1
  fi
done
echo "fuzz: every target ran ${seconds} s without a crash"
