#!/usr/bin/env bash
# Compares the detector's throughput at two commits on this machine, in alternating runs (a
# shared machine's load drifts; alternating pairs see the same drift). Prints each run's median
# slice (see crates/vigie-core/examples/detector_throughput.rs) and the median ratio new/old.
#
#   scripts/detector-ab.sh OLD_REV [NEW_REV|worktree] [ROUNDS]
#
# OLD_REV is built in a temporary worktree with the current example file (so that both print
# the same measures); NEW defaults to the working tree.
set -euo pipefail
old=${1:?usage: scripts/detector-ab.sh OLD_REV [NEW_REV|worktree] [ROUNDS]}
new=${2:-worktree}
rounds=${3:-3}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; [ -d "$work/new" ] && git -C "$root" worktree remove --force "$work/new" >/dev/null 2>&1; rm -rf "$work"' EXIT
example=crates/vigie-core/examples/detector_throughput.rs

build() { # rev-dir target-dir out
    [ "$1" = "$root" ] || cp "$root/$example" "$1/$example"
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo build -q --release -p vigie-core --example detector_throughput)
    cp "$2/release/examples/detector_throughput" "$3"
}
git -C "$root" worktree add -q --detach "$work/old" "$old"
build "$work/old" "$root/target/ab-old" "$work/old.bin"
if [ "$new" = worktree ]; then
    build "$root" "$root/target" "$work/new.bin"
else
    git -C "$root" worktree add -q --detach "$work/new" "$new"
    build "$work/new" "$root/target/ab-new" "$work/new.bin"
fi

slice() { "$1" | sed -n 's/.*median of [0-9]* slices \([0-9]*\).*/\1/p'; }
for r in $(seq "$rounds"); do
    a=$(slice "$work/old.bin")
    b=$(slice "$work/new.bin")
    echo "round $r: old $a  new $b events/s (median slice)"
    echo "$a $b" >>"$work/pairs"
done
sort -n -k1 "$work/pairs" | awk '{o[NR]=$1} END {print "old median " o[int((NR+1)/2)]}'
sort -n -k2 "$work/pairs" | awk '{n[NR]=$2} END {print "new median " n[int((NR+1)/2)]}'
awk '{print $2/$1}' "$work/pairs" | sort -n | awk '{r[NR]=$1} END {printf "median ratio new/old %.2f over %d rounds\n", r[int((NR+1)/2)], NR}'
