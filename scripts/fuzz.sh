#!/usr/bin/env bash
# Long, coverage-guided fuzzing under libFuzzer (stable Rust, no sanitizer): see docs/fuzzing.md.
#   scripts/fuzz.sh <target|all> [seconds per target, default 600] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh <target|all> [seconds] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# < 2 ? $# : 2 ))
if [ "$target" = all ]; then
    targets=$(ls fuzz/fuzz_targets | sed 's/\.rs$//')
else
    targets=$target
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    # Inputs that live elsewhere in the repository seed these two as well.
    extra=()
    [ "$t" = scenario ] && extra=(scenarios)
    [ "$t" = config ] && cp vigie.example.toml "fuzz/corpus/$t/vigie.example.toml"
    echo "== $t: ${seconds}s" >&2
    # Low priority: the machine is shared. -malloc_limit_mb: an allocation sized by a hostile
    # length is a finding, not just slow. The committed seeds are read, never written to.
    nice -n 10 cargo fuzz run --fuzz-dir fuzz -s none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" "${extra[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -print_final_stats=1 "$@"
done
