#!/usr/bin/env bash
# Full-handshake latency while the gateway reloads large trust material, on loopback: one
# listener with the CRLs of `loadgen pki --revoked $REVOKED` (default 1,000,000 entries), the
# gateway on CPU 0, `loadgen run --mode full` (8 workers, 8 s) on CPU 1; first idle, then with
# a SIGHUP (a full reload) every 2 s. Prints both runs' rate, p50 and p99.
#
# MODE=fetched: the intermediate's CRL comes from a distribution point instead (a local
# `python3 -m http.server` on CPU 1, `refresh: 1s`), and while loaded a newer version of it
# (as large, one serial more) is published every 4 s from the start of the run: each is
# fetched, read and checked, and swapped in with the configuration assembled again, as the
# gateway does with CRLs it fetches (a fetch and swap of 1,000,000 entries takes seconds, so
# the run sees one or two).
#
#   benches/reload_p99.sh                 # REVOKED=1000000
#   REVOKED=100000 benches/reload_p99.sh
#   MODE=fetched benches/reload_p99.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REVOKED=${REVOKED:-1000000}
MODE=${MODE:-hup}
(cd "$ROOT" && cargo build --release -q -p mtls-gateway -p mtls-benches --bin mtls-gateway --bin loadgen)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN=${TARGET_DIR:-$ROOT/target}/release
D=$(mktemp -d /tmp/mtls-reload-p99.XXXXXX)
"$BIN/loadgen" pki --dir "$D" --revoked "$REVOKED" --fetched "$([[ $MODE == fetched ]] && echo 4 || echo 0)" >/dev/null
PORT=${PORT:-18490}
HTTP_PORT=$((PORT + 1))
CRL="{ sources: [{ file: crl.pem }], check: whole_chain }"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
if [[ $MODE == fetched ]]; then
    mkdir -p "$D/www"
    cp "$D/fetched-1.crl" "$D/www/intermediate.crl"
    taskset -c 1 python3 -m http.server --bind 127.0.0.1 --directory "$D/www" "$HTTP_PORT" \
        >"$D/http.log" 2>&1 &
    PIDS+=($!)
    # Up before the gateway starts: it serves once the first fetch ended.
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && break; sleep 0.1; done
    CRL="{ sources: [{ file: root-crl.pem }], check: whole_chain, distribution_points: { urls: [\"http://127.0.0.1:$HTTP_PORT/intermediate.crl\"], refresh: 1s, timeout: 60s, max_bytes: 268435456 } }"
fi
cat >"$D/gateway.yaml" <<EOC
listeners:
  - name: crl
    address: 127.0.0.1:$PORT
    min_tls_version: tls13
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{ file: ca.pem }]
              crl: $CRL
        routes:
          - { path_prefix: /, respond: { status: 200, body: "ok\n", content_type: text/plain } }
EOC
RUST_LOG=info taskset -c 0 "$BIN/mtls-gateway" run --config "$D/gateway.yaml" >"$D/gateway.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 1 240); do grep -q "listening" "$D/gateway.log" && break; sleep 0.5; done
run() {
    taskset -c 1 "$BIN/loadgen" run --mode full --workers 8 --duration 8 --warmup 1 \
        --addr "127.0.0.1:$PORT" --cert "$D/client.pem" --key "$D/client.key" \
        --server-pid "$GW" --server gateway --case "$1" 2>&1 | grep "round 0"
}
run idle
if [[ $MODE == fetched ]]; then
    (for v in 2 3 4; do
        cp "$D/fetched-$v.crl" "$D/www/next.crl"
        mv "$D/www/next.crl" "$D/www/intermediate.crl"
        sleep 4
    done) &
else
    (sleep 1; for _ in 1 2 3 4; do kill -HUP "$GW"; sleep 2; done) &
fi
CHANGES=$!
run reloading
wait "$CHANGES"
if [[ $MODE == fetched ]]; then
    # Let the last version land before counting.
    sleep 3
    echo "fetched CRLs swapped in: $(grep -c 'CRL fetched' "$D/gateway.log") (the first at start); logs in $D"
else
    echo "reloads: $(grep -c 'reloading trigger' "$D/gateway.log"); logs in $D"
fi
