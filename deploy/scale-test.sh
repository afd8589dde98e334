#!/usr/bin/env bash
# Scale test: three replicas of `feeds serve` over the repository's content/,
# nginx on loopback as their load balancer (its own config, pid and temp
# paths, not the system nginx), then deploy/scale_check.py:
#   - the same feed from every replica: identical bytes and ETag;
#   - an ETag from replica A gets a 304 from replica B;
#   - 20 req/s for 6 s through nginx while one replica is SIGKILLed: no
#     failed request.
#
#   make scale-test       (needs .venv from `make`)
#
# Ports: SCALE_PORT_BASE (default 18100: nginx; 18101..18103: replicas).
# Only 127.0.0.1 is used. Everything started here is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
FEEDS="$VENV/bin/feeds"
PORT_BASE="${SCALE_PORT_BASE:-18100}"
LB_PORT="$PORT_BASE"
REPLICA_PORTS=($((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)))
BASE_URL="http://127.0.0.1:$LB_PORT"
START_TIME=$SECONDS

fail_early() {
    echo "FAIL: $*"
    echo "scale-test: 0 passed, 1 failed in $((SECONDS - START_TIME)) s"
    exit 1
}
[[ -x "$FEEDS" ]] || fail_early "no $FEEDS: run make first"

if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    [[ $EUID -eq 0 ]] || fail_early "nginx is missing (apt-get install nginx, as root)"
    echo "installing nginx with apt-get"
    for attempt in 1 2 3 4 5 6; do
        # another apt process may hold the lock for a moment: wait and retry
        if apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends nginx >/dev/null; then
            break
        fi
        [[ $attempt -eq 6 ]] && fail_early "apt-get install nginx"
        sleep 10
    done
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

WORK="$(mktemp -d /tmp/feeds-scale-test.XXXXXX)"
chmod 755 "$WORK" # nginx workers (nobody) create their temp files below it
PIDS=()
NGINX_PID=""
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$NGINX_PID" ]]; then
        kill -TERM "$NGINX_PID" 2>/dev/null
    fi
    for pid in "${PIDS[@]}"; do
        # each replica leads its own process group (setsid): stop it all
        kill -TERM -- "-$pid" 2>/dev/null
    done
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${PIDS[@]}" $NGINX_PID; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null
    done
    [[ -n "$NGINX_PID" ]] && kill -KILL "$NGINX_PID" 2>/dev/null
    wait 2>/dev/null
    if [[ $rc -ne 0 ]]; then
        for log in "$WORK"/replica-*.log "$WORK"/logs/error.log; do
            [[ -s "$log" ]] || continue
            echo "--- $(basename "$log") (last 20 lines)"
            tail -n 20 "$log"
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
    "$PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine, a listener is not
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}
for port in "$LB_PORT" "${REPLICA_PORTS[@]}"; do
    port_free "$port" || fail_early "port 127.0.0.1:$port is in use (set SCALE_PORT_BASE)"
done

wait_200() { # wait_200 URL SECONDS
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" \
            2>/dev/null && return 0
        sleep 0.3
    done
    return 1
}

echo "--- replicas on ${REPLICA_PORTS[*]}, base URL $BASE_URL"
for i in 0 1 2; do
    port="${REPLICA_PORTS[$i]}"
    # setsid: the replica and anything it forks form one process group, which
    # the test kills as a whole (SIGKILL) and the cleanup stops as a whole.
    setsid "$FEEDS" serve --content "$ROOT/content" --host 127.0.0.1 --port "$port" \
        --base-url "$BASE_URL" --workers 1 >"$WORK/replica-$((i + 1)).log" 2>&1 &
    PIDS+=($!)
    disown "$!" # no job notice from bash when the test SIGKILLs it
done
for i in 0 1 2; do
    port="${REPLICA_PORTS[$i]}"
    wait_200 "http://127.0.0.1:$port/readyz" 60 ||
        fail_early "replica $((i + 1)) on port $port not ready within 60 s"
done
echo "replicas ready after $((SECONDS - START_TIME)) s"

echo "--- nginx load balancer on 127.0.0.1:$LB_PORT"
mkdir -p "$WORK/logs"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 512; }
http {
    access_log $WORK/logs/access.log;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;

    upstream feeds {
        server 127.0.0.1:${REPLICA_PORTS[0]} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:${REPLICA_PORTS[1]} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:${REPLICA_PORTS[2]} max_fails=1 fail_timeout=10s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            proxy_pass http://feeds;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            # GETs are idempotent: a replica that refuses, resets or answers
            # 502/503 is skipped and the request goes to the next one.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 5s;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
            add_header X-Upstream \$upstream_addr always;
        }
    }
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/logs/error.log" &
NGINX_PID=$!
wait_200 "$BASE_URL/healthz" 15 || fail_early "nginx on 127.0.0.1:$LB_PORT did not start"

echo "--- checks"
victim_pgid="$(ps -o pgid= -p "${PIDS[1]}" | tr -d ' ')"
# Never SIGKILL our own process group: the replica must lead its own.
[[ "$victim_pgid" == "${PIDS[1]}" && "$victim_pgid" != "$(ps -o pgid= -p $$ | tr -d ' ')" ]] ||
    fail_early "replica 2 (pid ${PIDS[1]}) is not alone in its process group ($victim_pgid)"
status=0
"$PY" "$ROOT/deploy/scale_check.py" --lb "$BASE_URL" \
    --replica "http://127.0.0.1:${REPLICA_PORTS[0]}" \
    --replica "http://127.0.0.1:${REPLICA_PORTS[1]}" \
    --replica "http://127.0.0.1:${REPLICA_PORTS[2]}" \
    --victim-pgid "$victim_pgid" --rate 20 --duration 6 || status=$?
echo "scale-test: finished in $((SECONDS - START_TIME)) s"
exit "$status"
