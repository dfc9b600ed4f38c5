#!/usr/bin/env bash
# Interleaved A/B runs of one load case against several server binaries, a fresh process per
# run, on the PKI and gateway configuration of an earlier `benches/compare.sh` run.
#
#   benches/ab.sh DIR ROUNDS CASE SPEC...
#
#   DIR    a compare.sh output directory (its `pki/` holds the certificates, the CRLs and
#          gateway.yaml; ports are compare.sh's defaults)
#   CASE   fixed | proxied | full     (keep-alive fixed answer, keep-alive proxied, full
#                                      handshakes with CRLs)
#   SPEC   LABEL=gateway:BINARY [ARGS...]   an mtls-gateway binary (ARGS before `run`)
#          LABEL=raw:BINARY [ARGS...]       a raw_server binary (ARGS added, e.g. --multi-thread)
#
# Example (the raw server single- and multi-threaded against the gateway):
#   benches/ab.sh /tmp/runF 5 fixed raw=raw:target/release/raw_server \
#       raw_mt="raw:target/release/raw_server --multi-thread" gw=gateway:target/release/mtls-gateway
#
# PRELOAD=SECONDS first loads each fresh process with that many seconds of full handshakes (the
# history a server has in compare.sh, where the keep-alive case follows the handshake cases).
#
# Each run: the server pinned to CPU 0, `loadgen run` (32 connections, 5 s after 0.5 s of
# warm-up) and the fixed upstream pinned to CPU 1; one line per run: round, label, server CPU
# µs per operation, operations per second. Every process it starts is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 4 ]] || { sed -n 2,20p "$0"; exit 2; }
DIR=$1 ROUNDS=$2 CASE=$3
shift 3
PKI=$DIR/pki
LOADGEN=$ROOT/target/release/loadgen
RAW=$ROOT/target/release/raw_server
for f in "$PKI/gateway.yaml" "$PKI/client.pem" "$LOADGEN" "$RAW"; do
    [[ -e $f ]] || { echo "missing $f (run benches/compare.sh first)" >&2; exit 2; }
done
case $CASE in
    fixed) MODE=keepalive GW_PORT=18441 RAW_UPSTREAM=() ;;
    proxied) MODE=keepalive GW_PORT=18453 RAW_UPSTREAM=(--upstream http://127.0.0.1:18440) ;;
    full) MODE=full GW_PORT=18441 RAW_UPSTREAM=() ;;
    *) echo "CASE: fixed, proxied or full" >&2; exit 2 ;;
esac
RAW_PORT=18460
ORIG=$PWD
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
cd "$PKI"
taskset -c 1 "$RAW" --plain --listen 127.0.0.1:18440 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
for round in $(seq 1 "$ROUNDS"); do
    for spec in "$@"; do
        label=${spec%%=*} rest=${spec#*=}
        kind=${rest%%:*} command=${rest#*:}
        read -r -a argv <<<"$command"
        [[ ${argv[0]} == /* ]] || argv[0]=$ORIG/${argv[0]}
        if [[ $kind == gateway ]]; then
            RUST_LOG=warn taskset -c 0 "${argv[@]}" run --config gateway.yaml >/dev/null 2>&1 &
            port=$GW_PORT
        else
            taskset -c 0 "${argv[@]}" --listen 127.0.0.1:$RAW_PORT --cert server.pem \
                --key server.key --ca ca.pem --crl crl.pem "${RAW_UPSTREAM[@]}" >/dev/null 2>&1 &
            port=$RAW_PORT
        fi
        pid=$!
        PIDS+=("$pid")
        sleep 1.2
        if [[ ${PRELOAD:-0} != 0 ]]; then
            # The history compare.sh gives a server: full handshakes before the measured run.
            timeout 60 taskset -c 1 "$LOADGEN" run --mode full --workers 32 --duration "$PRELOAD" \
                --warmup 0 --addr "127.0.0.1:$port" --cert client.pem --key client.key \
                >/dev/null 2>&1 || true
        fi
        line=$(timeout 60 taskset -c 1 "$LOADGEN" run --mode "$MODE" --workers 32 --duration 5 \
            --warmup 0.5 --addr "127.0.0.1:$port" --cert client.pem --key client.key \
            --server-pid "$pid" 2>/dev/null || true)
        echo "$round $label $(python3 -c 'import json,sys
try:
    d = json.loads(sys.argv[1])
    print(round(d["server_cpu_us_per_op"], 2), round(d["rate"]))
except Exception:
    print("failed")' "$line")"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
done
