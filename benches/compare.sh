#!/usr/bin/env bash
# Loopback comparison: mtls-gateway vs nginx vs HAProxy vs a raw tokio-rustls + hyper
# server.
#
#   benches/compare.sh                       # 5 interleaved rounds of 8 s runs, idle RSS at 10,000
#   ROUNDS=3 DURATION=5 IDLE=10000 benches/compare.sh
#   QUICK=1 benches/compare.sh               # smoke: 1 round of 1 s runs, 500 idle connections
#   ROUNDS=1 DURATION=2 IDLE=0 S_TIME=0 benches/compare.sh   # smoke without idle test and s_time
#   ONLY="gateway haproxy_fixed haproxy_proxy" benches/compare.sh   # load only these servers
#
# Variables: ROUNDS, DURATION, WARMUP (s), WORKERS, IDLE (connections; 0: no idle test), S_TIME
# (seconds of `openssl s_time` per server; 0: none), CASES (full_crl full_nocrl keepalive, the
# default, resumed, and full_crl_distinct: full_crl with a distinct client leaf per connection,
# CLIENTS of them round robin, 5,000 by default), ONLY (server names: gateway
# nginx_fixed nginx_proxy haproxy_fixed haproxy_proxy raw raw_proxy), SERVER_CPU, LOAD_CPU,
# BASE_PORT (14 ports from it), OUT (result directory), SVG (the plot), RESTART (1, the
# default: fresh server processes for every round; 0: the same processes throughout).
#
# What it does (see BENCHMARKS.md, "Loopback comparison"):
#   - builds mtls-gateway and the mtls-benches binaries (loadgen, raw_server) in release;
#   - writes an ECDSA P-256 PKI (root → intermediate → leaves) and CRLs of the whole chain
#     (root's CRL; intermediate's CRL with 1,000 random serials + revoked.pem) with `loadgen pki`;
#   - starts, all pinned to CPU $SERVER_CPU (0) and on 127.0.0.1 only:
#       the gateway (three listeners: with CRLs and without, both answering 200 themselves,
#       and one with CRLs proxying to the fixed upstream),
#       nginx from Debian (installed when missing; own prefix, foreground, one worker; listeners
#       `return 200` with CRLs, `proxy_pass` to the fixed upstream with CRLs, `return 200`
#       without CRL),
#       HAProxy from Debian (installed when missing; one process, `nbthread 1`, foreground, no
#       master; frontends `http-request return status 200` with CRLs, proxying to the fixed
#       upstream with CRLs, `return` without CRL),
#       raw_server with the CRLs and raw_server without (fixed 200), and the same two forwarding
#       to the fixed upstream (the "raw proxy" reference);
#     and the fixed-answer upstream (raw_server --plain) on CPU $LOAD_CPU (1), with the load;
#   - checks every server once (client cert → 200; revoked cert → refused where CRLs are loaded);
#   - runs `loadgen run` (pinned to CPU $LOAD_CPU) in interleaved rounds: for each round, each
#     case (full_crl, full_nocrl, keepalive; resumed when CASES names it: a new connection per
#     request resuming a TLS 1.3 session, against the fixed-answer servers with CRLs, each
#     issuing session tickets as it does by default) against each server, the server order rotating per
#     round, every server restarted between rounds (a fresh address space layout, see
#     RESTART below); one JSON line per run into $OUT/runs.jsonl;
#   - cross-checks once with `openssl s_time -new` (one connection at a time, so latency-bound);
#   - holds $IDLE idle mTLS connections against each server and reads its VmRSS growth;
#   - prints the report (`loadgen report`) and draws the plot benches/loopback.svg
#     (`benches/plot.py loopback`, Python 3 standard library).
# Every process it starts is killed on exit; every run is bounded in time and connections.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
WORKERS=${WORKERS:-32}
IDLE=${IDLE:-10000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18440}
SVG=${SVG:-$ROOT/benches/loopback.svg}
CASES=${CASES:-"full_crl full_nocrl keepalive"}
S_TIME=${S_TIME:-5}
ONLY=${ONLY:-}
if [[ -n ${QUICK:-} ]]; then
    ROUNDS=1 DURATION=1 WARMUP=0.5 IDLE=500
fi
OUT=${OUT:-$(mktemp -d /tmp/mtls-compare.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
echo "== output in $OUT"

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------------------------
if ! command -v nginx >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "== installing nginx-light (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light >/dev/null \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null
    else
        echo "nginx is missing: sudo apt-get install nginx-light" >&2
        exit 2
    fi
fi
if ! command -v haproxy >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "== installing haproxy (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >/dev/null
    else
        echo "haproxy is missing: sudo apt-get install haproxy" >&2
        exit 2
    fi
fi
for tool in taskset openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 2; }
done
if [[ $(nproc --all) -le $LOAD_CPU ]]; then
    echo "need at least $((LOAD_CPU + 1)) CPUs" >&2
    exit 2
fi

echo "== building (release)"
(cd "$ROOT" && cargo build --release -q -p mtls-gateway -p mtls-benches --bin mtls-gateway --bin loadgen --bin raw_server)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN=${TARGET_DIR:-$ROOT/target}/release
LOADGEN=$BIN/loadgen
RAW=$BIN/raw_server
GATEWAY=$BIN/mtls-gateway

# The idle test needs one descriptor per connection in the load generator and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
if [[ $FD_LIMIT != unlimited && $IDLE -gt $((FD_LIMIT - 200)) ]]; then
    echo "== fd limit $FD_LIMIT: holding $((FD_LIMIT - 200)) idle connections instead of $IDLE"
    IDLE=$((FD_LIMIT - 200))
fi

# --- PKI --------------------------------------------------------------------------------------
PKI=$OUT/pki
CLIENTS=${CLIENTS:-5000}
if [[ " $CASES " == *" full_crl_distinct "* ]]; then
    "$LOADGEN" pki --dir "$PKI" --revoked 1000 --clients "$CLIENTS"
else
    "$LOADGEN" pki --dir "$PKI" --revoked 1000
fi
chmod 755 "$PKI"
chmod 644 "$PKI"/*

# --- ports ------------------------------------------------------------------------------------
P_BACKEND=$BASE_PORT
P_GW_CRL=$((BASE_PORT + 1))
P_GW_NOCRL=$((BASE_PORT + 2))
P_NGX_FIXED=$((BASE_PORT + 3))
P_NGX_PROXY=$((BASE_PORT + 4))
P_NGX_NOCRL=$((BASE_PORT + 5))
P_RAW_CRL=$((BASE_PORT + 6))
P_RAW_NOCRL=$((BASE_PORT + 7))
P_RAWP_CRL=$((BASE_PORT + 8))
P_RAWP_NOCRL=$((BASE_PORT + 9))
P_HAP_FIXED=$((BASE_PORT + 10))
P_HAP_PROXY=$((BASE_PORT + 11))
P_HAP_NOCRL=$((BASE_PORT + 12))
P_GW_PROXY=$((BASE_PORT + 13))
P_LAST=$P_GW_PROXY
for p in $(seq "$BASE_PORT" "$P_LAST"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use: set BASE_PORT" >&2
        exit 2
    fi
done

wait_port() {
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# --- servers ----------------------------------------------------------------------------------
echo "== starting servers (CPU $SERVER_CPU) and the fixed upstream (CPU $LOAD_CPU)"
taskset -c "$LOAD_CPU" "$RAW" --plain --listen "127.0.0.1:$P_BACKEND" >"$OUT/backend.log" 2>&1 &
PIDS+=($!)

start_raw() {
    taskset -c "$SERVER_CPU" "$RAW" --listen "127.0.0.1:$P_RAW_CRL" --cert "$PKI/server.pem" \
        --key "$PKI/server.key" --ca "$PKI/ca.pem" --crl "$PKI/crl.pem" >>"$OUT/raw_crl.log" 2>&1 &
    RAW_CRL_PID=$!
    PIDS+=("$RAW_CRL_PID")
    taskset -c "$SERVER_CPU" "$RAW" --listen "127.0.0.1:$P_RAW_NOCRL" --cert "$PKI/server.pem" \
        --key "$PKI/server.key" --ca "$PKI/ca.pem" >>"$OUT/raw_nocrl.log" 2>&1 &
    RAW_NOCRL_PID=$!
    PIDS+=("$RAW_NOCRL_PID")
    # The raw proxy reference: the same, forwarding to the fixed upstream (hyper-util's client).
    taskset -c "$SERVER_CPU" "$RAW" --listen "127.0.0.1:$P_RAWP_CRL" --cert "$PKI/server.pem" \
        --key "$PKI/server.key" --ca "$PKI/ca.pem" --crl "$PKI/crl.pem" \
        --upstream "http://127.0.0.1:$P_BACKEND" >>"$OUT/raw_proxy_crl.log" 2>&1 &
    RAWP_CRL_PID=$!
    PIDS+=("$RAWP_CRL_PID")
    taskset -c "$SERVER_CPU" "$RAW" --listen "127.0.0.1:$P_RAWP_NOCRL" --cert "$PKI/server.pem" \
        --key "$PKI/server.key" --ca "$PKI/ca.pem" \
        --upstream "http://127.0.0.1:$P_BACKEND" >>"$OUT/raw_proxy_nocrl.log" 2>&1 &
    RAWP_NOCRL_PID=$!
    PIDS+=("$RAWP_NOCRL_PID")
}
start_raw

cat >"$PKI/gateway.yaml" <<EOF
# Written by benches/compare.sh. Three mTLS listeners (TLS 1.3, client certificate required,
# the same CA): "crl" and "nocrl" answer 200 "ok" themselves (a respond route, as nginx's
# "return 200" and the raw server do), with and without the CRLs; "proxy" (CRLs) forwards every
# request to the fixed-answer upstream with the default x-forwarded-client-cert header.
listeners:
  - name: crl
    address: 127.0.0.1:$P_GW_CRL
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
  - name: nocrl
    address: 127.0.0.1:$P_GW_NOCRL
    min_tls_version: tls13
    hosts:
      - certificate: { chain: server.pem, key: server.key }
        client_validation:
          mode: required
          trust:
            - name: clients
              ca: [{ file: ca.pem }]
        routes:
          - { path_prefix: /, respond: { status: 200, body: "ok\n", content_type: text/plain } }
  - name: proxy
    address: 127.0.0.1:$P_GW_PROXY
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
          - { path_prefix: /, backend: fixed }
backends:
  fixed: { url: "http://127.0.0.1:$P_BACKEND" }
EOF
# RUST_LOG=warn: no access-log line per request (nginx runs with access_log off too).
start_gateway() {
    RUST_LOG=warn taskset -c "$SERVER_CPU" "$GATEWAY" run --config "$PKI/gateway.yaml" \
        >>"$OUT/gateway.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
}
start_gateway

NGX=$OUT/nginx
mkdir -p "$NGX/tmp"
cat >"$NGX/nginx.conf" <<EOF
# Written by benches/compare.sh: one worker, TLS 1.3, client certificate required (same CA),
# CRLs of the whole chain (nginx sets X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL).
worker_processes 1;
worker_rlimit_nofile $FD_LIMIT;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections $((FD_LIMIT - 100)); }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    default_type text/plain;
    keepalive_requests 1000;
    ssl_protocols TLSv1.3;
    ssl_certificate $PKI/server.pem;
    ssl_certificate_key $PKI/server.key;
    ssl_client_certificate $PKI/ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 3;
    # TLS 1.3 session tickets (nginx's default, stated: the resumed case uses them).
    ssl_session_tickets on;
    upstream fixed {
        server 127.0.0.1:$P_BACKEND;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$P_NGX_FIXED ssl;
        ssl_crl $PKI/crl.pem;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$P_NGX_PROXY ssl;
        ssl_crl $PKI/crl.pem;
        location / {
            proxy_pass http://fixed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The identity upstream, like the gateway's x-forwarded-client-cert.
            proxy_set_header X-Forwarded-Client-Cert "Hash=\$ssl_client_fingerprint;Subject=\"\$ssl_client_s_dn\"";
            proxy_set_header ssl-client-verify \$ssl_client_verify;
        }
    }
    server {
        listen 127.0.0.1:$P_NGX_NOCRL ssl;
        location / { return 200 "ok\n"; }
    }
}
EOF
start_nginx() {
    taskset -c "$SERVER_CPU" nginx -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' \
        >>"$OUT/nginx.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
}
start_nginx

HAP=$OUT/haproxy
mkdir -p "$HAP"
# HAProxy wants the key in the certificate file (or in a file named after it).
cat "$PKI/server.pem" "$PKI/server.key" >"$HAP/server.pem"
chmod 600 "$HAP/server.pem"
cat >"$HAP/haproxy.cfg" <<EOF
# Written by benches/compare.sh: one process, one thread, TLS 1.3, client certificate required
# (same CA), CRLs of the whole chain (with a crl-file HAProxy sets X509_V_FLAG_CRL_CHECK |
# X509_V_FLAG_CRL_CHECK_ALL: given only the intermediate's CRL it refuses a good client). No
# log directive, so nothing is logged (nginx: access_log off).
global
    nbthread 1
    # maxconn counts 2 descriptors per connection (client + server side) and the hard limit
    # cannot be raised here; only the fixed-answer frontends hold many connections (idle test),
    # at 1 descriptor each. Without this HAProxy refuses to start.
    no strict-limits
    ulimit-n $FD_LIMIT
    maxconn $((FD_LIMIT - 200))
    ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
    mode http
    maxconn $((FD_LIMIT - 200))
    timeout connect 5s
    timeout client 120s
    timeout server 30s
    timeout http-request 30s
    timeout http-keep-alive 120s
    option http-keep-alive
frontend fixed_crl
    bind 127.0.0.1:$P_HAP_FIXED ssl crt $HAP/server.pem ca-file $PKI/ca.pem crl-file $PKI/crl.pem verify required alpn http/1.1
    http-request return status 200 content-type text/plain string "ok"
frontend proxy_crl
    bind 127.0.0.1:$P_HAP_PROXY ssl crt $HAP/server.pem ca-file $PKI/ca.pem crl-file $PKI/crl.pem verify required alpn http/1.1
    # The identity upstream, like the gateway's x-forwarded-client-cert and nginx's headers.
    http-request set-header X-Forwarded-Client-Cert "Hash=%[ssl_c_sha1,hex];Subject=\"%[ssl_c_s_dn]\""
    http-request set-header ssl-client-verify %[ssl_c_verify]
    default_backend fixed
frontend fixed_nocrl
    bind 127.0.0.1:$P_HAP_NOCRL ssl crt $HAP/server.pem ca-file $PKI/ca.pem verify required alpn http/1.1
    http-request return status 200 content-type text/plain string "ok"
backend fixed
    # Idle upstream connections are shared by all client connections (nginx: keepalive 64).
    http-reuse always
    server fixed 127.0.0.1:$P_BACKEND
EOF
haproxy -c -q -f "$HAP/haproxy.cfg" || { echo "haproxy rejects $HAP/haproxy.cfg" >&2; exit 1; }
# -db: foreground, no master process (no -W): the one process is the whole server.
start_haproxy() {
    taskset -c "$SERVER_CPU" haproxy -db -f "$HAP/haproxy.cfg" >>"$OUT/haproxy.log" 2>&1 &
    HAP_PID=$!
    PIDS+=("$HAP_PID")
}
start_haproxy

await_servers() {
    for p in $(seq "$BASE_PORT" "$P_LAST"); do
        wait_port "$p"
    done
    NGX_WORKER=$(pgrep -P "$NGX_PID" | head -1)
    [[ -n $NGX_WORKER ]] || { echo "no nginx worker" >&2; exit 1; }
    # HAProxy's CPU time is its process's (all threads); children, if a build ever forks, count too.
    HAP_PIDS=$HAP_PID
    for child in $(pgrep -P "$HAP_PID" || true); do HAP_PIDS+=",$child"; done
    echo "== haproxy: pids $HAP_PIDS, $(awk '/^Threads:/ { print $2 }' "/proc/$HAP_PID/status") thread(s), CPUs $(taskset -pc "$HAP_PID" | sed 's/.*: //')"
}
await_servers

addr_of() {
    case ${1%_distinct}/$2 in
        full_crl/gateway | keepalive/gateway | resumed/gateway) echo "127.0.0.1:$P_GW_CRL" ;;
        full_nocrl/gateway) echo "127.0.0.1:$P_GW_NOCRL" ;;
        full_crl/gateway_proxy | keepalive/gateway_proxy) echo "127.0.0.1:$P_GW_PROXY" ;;
        full_crl/nginx_fixed | keepalive/nginx_fixed | resumed/nginx_fixed) echo "127.0.0.1:$P_NGX_FIXED" ;;
        full_crl/nginx_proxy | keepalive/nginx_proxy) echo "127.0.0.1:$P_NGX_PROXY" ;;
        full_nocrl/nginx_fixed) echo "127.0.0.1:$P_NGX_NOCRL" ;;
        full_crl/haproxy_fixed | keepalive/haproxy_fixed | resumed/haproxy_fixed) echo "127.0.0.1:$P_HAP_FIXED" ;;
        full_crl/haproxy_proxy | keepalive/haproxy_proxy) echo "127.0.0.1:$P_HAP_PROXY" ;;
        full_nocrl/haproxy_fixed) echo "127.0.0.1:$P_HAP_NOCRL" ;;
        full_crl/raw | keepalive/raw | resumed/raw) echo "127.0.0.1:$P_RAW_CRL" ;;
        full_nocrl/raw) echo "127.0.0.1:$P_RAW_NOCRL" ;;
        full_crl/raw_proxy | keepalive/raw_proxy) echo "127.0.0.1:$P_RAWP_CRL" ;;
        full_nocrl/raw_proxy) echo "127.0.0.1:$P_RAWP_NOCRL" ;;
        *) return 1 ;;
    esac
}
pids_of() {
    set -- "$1" "${2%_distinct}"
    case $1 in
        gateway | gateway_proxy) echo "$GW_PID" ;;
        nginx_*) echo "$NGX_PID,$NGX_WORKER" ;;
        haproxy_*) echo "$HAP_PIDS" ;;
        raw) if [[ $2 == full_nocrl ]]; then echo "$RAW_NOCRL_PID"; else echo "$RAW_CRL_PID"; fi ;;
        raw_proxy) if [[ $2 == full_nocrl ]]; then echo "$RAWP_NOCRL_PID"; else echo "$RAWP_CRL_PID"; fi ;;
    esac
}
servers_of() {
    local all s out=()
    case $1 in
        full_nocrl) all="nginx_fixed haproxy_fixed gateway raw raw_proxy" ;;
        resumed) all="nginx_fixed haproxy_fixed gateway raw" ;;
        *) all="nginx_fixed nginx_proxy haproxy_fixed haproxy_proxy gateway gateway_proxy raw raw_proxy" ;;
    esac
    for s in $all; do
        if [[ -z $ONLY || " $ONLY " == *" $s "* ]]; then out+=("$s"); fi
    done
    echo "${out[*]}"
}

# --- equivalence check ------------------------------------------------------------------------
echo "== checking every server once (client cert → 200; revoked → refused where CRLs are loaded)"
check_failed=0
for spec in "gateway:$P_GW_CRL:crl" "gateway:$P_GW_NOCRL:nocrl" "gateway_proxy:$P_GW_PROXY:crl" \
    "nginx_fixed:$P_NGX_FIXED:crl" \
    "nginx_proxy:$P_NGX_PROXY:crl" "nginx_nocrl:$P_NGX_NOCRL:nocrl" "raw:$P_RAW_CRL:crl" \
    "raw:$P_RAW_NOCRL:nocrl" "raw_proxy:$P_RAWP_CRL:crl" "raw_proxy:$P_RAWP_NOCRL:nocrl" \
    "haproxy_fixed:$P_HAP_FIXED:crl" "haproxy_proxy:$P_HAP_PROXY:crl" "haproxy_nocrl:$P_HAP_NOCRL:nocrl"; do
    IFS=: read -r name port crl <<<"$spec"
    ok=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --tlsv1.3 --cacert "$PKI/ca.pem" \
        --cert "$PKI/client.pem" --key "$PKI/client.key" "https://localhost:$port/" || true)
    revoked=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --tlsv1.3 --cacert "$PKI/ca.pem" \
        --cert "$PKI/revoked.pem" --key "$PKI/revoked.key" "https://localhost:$port/" || true)
    nocert=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --tlsv1.3 --cacert "$PKI/ca.pem" \
        "https://localhost:$port/" || true)
    echo "   $name ($crl, :$port): client → $ok, revoked → $revoked, no cert → $nocert"
    [[ $ok == 200 ]] || check_failed=1
    [[ $nocert != 200 ]] || check_failed=1
    if [[ $crl == crl && $revoked == 200 ]]; then check_failed=1; fi
done
if [[ $check_failed == 1 ]]; then
    echo "a server does not behave as configured; see $OUT/*.log" >&2
    exit 1
fi

# --- rounds -----------------------------------------------------------------------------------

# Fresh server processes for every round: a process's speed depends on where address space
# layout randomisation put its code, heap and stacks (the same binary measured 76k, 81k and 87k
# keep-alive requests/s in three processes, each steady within itself; with `setarch -R`, 82k
# every time). Restarting samples a new layout per round, so the medians are not one process's
# luck. RESTART=0 keeps the first processes for the whole run.
RESTART=${RESTART:-1}
restart_servers() {
    local pid
    for pid in "$RAW_CRL_PID" "$RAW_NOCRL_PID" "$RAWP_CRL_PID" "$RAWP_NOCRL_PID" "$GW_PID" \
        "$NGX_PID" "$HAP_PID"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "$RAW_CRL_PID" "$RAW_NOCRL_PID" "$RAWP_CRL_PID" "$RAWP_NOCRL_PID" "$GW_PID" \
        "$NGX_PID" "$HAP_PID"; do
        wait "$pid" 2>/dev/null || true
    done
    start_raw
    start_gateway
    start_nginx
    start_haproxy
    await_servers >/dev/null
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== load average before: $(loadavg)"
uptime >"$OUT/uptime.txt"
RUNS=$OUT/runs.jsonl
: >"$RUNS"
for round in $(seq 1 "$ROUNDS"); do
    if [[ $round -gt 1 && $RESTART == 1 ]]; then
        restart_servers
    fi
    for case in $CASES; do
        read -r -a servers <<<"$(servers_of "$case")"
        n=${#servers[@]}
        [[ $n -gt 0 ]] || continue
        for i in $(seq 0 $((n - 1))); do
            server=${servers[$(((i + round - 1) % n))]}
            mode=full
            [[ $case == keepalive ]] && mode=keepalive
            [[ $case == resumed ]] && mode=resumed
            clients=()
            [[ $case == full_crl_distinct ]] &&
                clients=(--clients "$PKI/clients.pem" --client-keys "$PKI/clients.key")
            line=$(timeout $((${DURATION%.*} + 30)) taskset -c "$LOAD_CPU" "$LOADGEN" run \
                --mode "$mode" --workers "$WORKERS" --duration "$DURATION" --warmup "$WARMUP" \
                --addr "$(addr_of "$case" "$server")" --cert "$PKI/client.pem" --key "$PKI/client.key" \
                "${clients[@]}" --server-pid "$(pids_of "$server" "$case")" \
                --server "$server" --case "$case" --round "$round")
            echo "$line" >>"$RUNS"
        done
    done
done
uptime >>"$OUT/uptime.txt"
echo "== load average after: $(loadavg)"

# --- openssl s_time cross-check ---------------------------------------------------------------
cpu_ticks() { # utime + stime of the given pids (comma-separated), in clock ticks
    local total=0 pid rest
    for pid in ${1//,/ }; do
        rest=$(sed 's/.*) //' "/proc/$pid/stat")
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
STIME=$OUT/s_time.txt
: >"$STIME"
# -CAfile ca-bundle.pem (root + intermediate): s_time has no -cert_chain, OpenSSL then sends
# the intermediate it finds there with the client certificate.
TICK=$(getconf CLK_TCK)
STIME_SPECS=("gateway:$P_GW_CRL:$GW_PID" "nginx_fixed:$P_NGX_FIXED:$NGX_PID,$NGX_WORKER"
    "haproxy_fixed:$P_HAP_FIXED:$HAP_PIDS" "raw:$P_RAW_CRL:$RAW_CRL_PID")
if [[ $S_TIME == 0 ]]; then
    echo "== openssl s_time cross-check skipped (S_TIME=0)"
    STIME_SPECS=()
else
    echo "== openssl s_time -new cross-check (one connection at a time, $S_TIME s, CRLs loaded)"
fi
for spec in "${STIME_SPECS[@]}"; do
    IFS=: read -r name port pids <<<"$spec"
    before=$(cpu_ticks "$pids")
    result=$(timeout $((S_TIME + 25)) taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:$port" -new \
        -tls1_3 -cert "$PKI/client.pem" -key "$PKI/client.key" -CAfile "$PKI/ca-bundle.pem" -time "$S_TIME" \
        -www / 2>&1 | grep -E 'connections in [0-9.]+ real' | head -1 || true)
    after=$(cpu_ticks "$pids")
    conns=$(sed -nE 's/^([0-9]+) connections in .*/\1/p' <<<"$result")
    per=$(awk -v t=$((after - before)) -v c="${conns:-0}" -v k="$TICK" \
        'BEGIN { if (c > 0) printf "%.0f", t / k * 1e6 / c; else print "?" }')
    echo "   $name: $result; server CPU $per µs per connection" | tee -a "$STIME"
done

# --- idle connections -------------------------------------------------------------------------
IDLES=$OUT/idle.jsonl
: >"$IDLES"
IDLE_SPECS=("gateway:$P_GW_CRL:$GW_PID" "nginx_fixed:$P_NGX_FIXED:$NGX_PID,$NGX_WORKER"
    "haproxy_fixed:$P_HAP_FIXED:$HAP_PIDS" "raw:$P_RAW_CRL:$RAW_CRL_PID")
if [[ $IDLE == 0 ]]; then
    echo "== idle connection test skipped (IDLE=0)"
    IDLE_SPECS=()
else
    echo "== RSS per idle mTLS connection ($IDLE connections, CRLs loaded)"
fi
for spec in "${IDLE_SPECS[@]}"; do
    IFS=: read -r name port pids <<<"$spec"
    line=$(timeout 180 taskset -c "$LOAD_CPU" "$LOADGEN" idle --connections "$IDLE" \
        --addr "127.0.0.1:$port" --cert "$PKI/client.pem" --key "$PKI/client.key" \
        --server-pid "$pids" --server "$name" --case idle)
    echo "$line" >>"$IDLES"
    echo "   $line"
    sleep 2
done

# --- report -----------------------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "?")
NOTE="$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)); server on CPU $SERVER_CPU, load + upstream on CPU $LOAD_CPU; ${ROUNDS} rounds x ${DURATION} s, $WORKERS connections; $(nginx -v 2>&1 | sed 's/.*version: //'), HAProxy $(haproxy -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p'), $(openssl version | cut -d' ' -f1-2); $COMMIT"
# The caption travels with the results (benches/plot.py reads it; loadgen report skips the line).
python3 -c 'import json, sys; print(json.dumps({"kind": "meta", "note": sys.argv[1]}))' "$NOTE" >>"$RUNS"
"$LOADGEN" report "$RUNS" "$IDLES" --note "$NOTE" | tee "$OUT/report.md"
echo
echo "s_time cross-check:" | tee -a "$OUT/report.md"
tee -a "$OUT/report.md" <"$STIME"
# The plot draws full_crl, full_nocrl and keepalive; a run of other cases only (CASES=resumed)
# has nothing to draw.
if grep -qE '"case": ?"(full_crl|full_nocrl|keepalive)"' "$RUNS"; then
    python3 "$ROOT/benches/plot.py" loopback --runs "$RUNS" --out "$SVG"
else
    SVG="(none: no case the plot draws)"
fi
echo "== report: $OUT/report.md; plot: $SVG"
