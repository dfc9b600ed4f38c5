#!/usr/bin/env bash
# The scale curves in instructions (callgrind), which the machine's load does not move: for each
# dimension and size, `target/release/scale` runs HANDSHAKES full mTLS handshakes with the
# gateway's decision after each, and callgrind counts the instructions of the server's side
# (`Pipe::server_flight`, `Gateway::after_handshake`) from the first measured handshake on.
#
#   benches/scale.sh                                   # every dimension, every size
#   DIMENSIONS="anchors hosts" SIZES="1 10000" benches/scale.sh
#
# Variables: DIMENSIONS (anchors anchors_root_leaf crl_entries hosts routes principals),
# BIN (the scale binary; default: built here), SIZES (default: each dimension's own, see benches/src/scale.rs), HANDSHAKES (20), OUT (result
# directory; scale.jsonl there, one JSON line per point), CACHE (generated CA bundles kept
# between runs; default $OUT/cache).
# Prints a table per dimension: instructions per handshake and the ratio to the smallest size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIMENSIONS=${DIMENSIONS:-"anchors anchors_root_leaf crl_entries hosts routes principals"}
HANDSHAKES=${HANDSHAKES:-20}
OUT=${OUT:-$(mktemp -d /tmp/mtls-scale.XXXXXX)}
CACHE=${CACHE:-$OUT/cache}
mkdir -p "$OUT" "$CACHE"
command -v valgrind >/dev/null || { echo "scale.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

[[ -n ${BIN:-} ]] || (cd "$ROOT" && cargo build --release -q -p mtls-benches --bin scale)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/scale}

default_sizes() {
    case $1 in
        anchors|anchors_root_leaf) echo "1 10 100 1000 10000" ;;
        crl_entries) echo "0 1000 10000 100000 1000000" ;;
        *) echo "1 10 100 1000 10000 100000" ;;
    esac
}

for dim in $DIMENSIONS; do
    base=
    printf '\n%-18s %10s %16s %8s\n' "$dim" size "instr/handshake" ratio
    for size in ${SIZES:-$(default_sizes "$dim")}; do
        cg=$OUT/callgrind.$dim.$size
        valgrind --tool=callgrind --callgrind-out-file="$cg" \
            --collect-atstart=no --zero-before='*scale::measured*' \
            --toggle-collect='*Pipe*server_flight*' --toggle-collect='*Gateway*after_handshake*' \
            "$BIN" --dimension "$dim" --size "$size" --handshakes "$HANDSHAKES" --cache "$CACHE" \
            --no-clock >/dev/null 2>"$cg.log"
        total=$(awk '/^(summary|totals):/ {print $2; exit}' "$cg")
        per=$((total / HANDSHAKES))
        base=${base:-$per}
        ratio=$(awk -v a="$per" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
        printf '%-18s %10s %16s %8s\n' "" "$size" "$per" "$ratio"
        printf '{"dimension":"%s","size":%s,"instructions":%s,"ratio":%s}\n' \
            "$dim" "$size" "$per" "$ratio" >>"$OUT/scale.jsonl"
    done
done
echo
echo "results: $OUT/scale.jsonl (callgrind files alongside: callgrind_annotate $OUT/callgrind.<dimension>.<size>)"
