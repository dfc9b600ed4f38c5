#!/usr/bin/env bash
# Full-handshake latency while the gateway reloads large trust material, on loopback: one
# listener with the CRLs of `loadgen pki --revoked $REVOKED` (default 1,000,000 entries), the
# gateway on CPU 0, `loadgen run --mode full` (8 workers, 8 s) on CPU 1; first idle, then with
# a SIGHUP (a full reload) every 2 s. Prints both runs' rate, p50 and p99.
#
#   benches/reload_p99.sh                 # REVOKED=1000000
#   REVOKED=100000 benches/reload_p99.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REVOKED=${REVOKED:-1000000}
(cd "$ROOT" && cargo build --release -q -p mtls-gateway -p mtls-benches --bin mtls-gateway --bin loadgen)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN=${TARGET_DIR:-$ROOT/target}/release
D=$(mktemp -d /tmp/mtls-reload-p99.XXXXXX)
"$BIN/loadgen" pki --dir "$D" --revoked "$REVOKED" >/dev/null
PORT=${PORT:-18490}
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
              crl: { sources: [{ file: crl.pem }], check: whole_chain }
        routes:
          - { path_prefix: /, respond: { status: 200, body: "ok\n", content_type: text/plain } }
EOC
RUST_LOG=info taskset -c 0 "$BIN/mtls-gateway" run --config "$D/gateway.yaml" >"$D/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "listening" "$D/gateway.log" && break; sleep 0.5; done
run() {
    taskset -c 1 "$BIN/loadgen" run --mode full --workers 8 --duration 8 --warmup 1 \
        --addr "127.0.0.1:$PORT" --cert "$D/client.pem" --key "$D/client.key" \
        --server-pid "$GW" --server gateway --case "$1" 2>&1 | grep "round 0"
}
run idle
(sleep 1; for _ in 1 2 3 4; do kill -HUP "$GW"; sleep 2; done) &
HUPS=$!
run reloading
wait "$HUPS"
echo "reloads: $(grep -c 'reloading trigger' "$D/gateway.log"); logs in $D"
