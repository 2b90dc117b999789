#!/usr/bin/env bash
# A load balancer in front of several `slipway serve` replicas: HAProxy from Debian's packages, on loopback.
#
#   scripts/haproxy.sh install                  install the `haproxy` package if it is missing
#   scripts/haproxy.sh start DIR PORT BACKEND…  write DIR/haproxy.cfg, start HAProxy on 127.0.0.1:PORT
#                                               round-robin over the BACKENDs (each `NAME=HOST:PORT`, or
#                                               `HOST:PORT`), wait until it answers and print its URL
#   scripts/haproxy.sh stop DIR                 stop the HAProxy started on DIR and remove DIR
#
# HAProxy runs in master-worker mode without daemonizing (`-W -db`), detached from the caller's
# terminal, its master's pid in DIR/haproxy.pid and its log (errors and health changes only) in
# DIR/haproxy.log; Debian's own service and /etc/haproxy are not used.
set -euo pipefail

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"

apt_install() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends haproxy >/dev/null
}

# The generated configuration. Why each setting:
# - health checks: GET /v2/health/ready every second; 2 failures take a replica out, 1 success brings it
#   back. A replica answers 503 there while it starts or drains, so it gets no traffic then.
# - retries and redispatch: a request whose connection fails (a replica killed, or not yet marked down)
#   is sent again, to another replica after the first retry. Predictions are also retried when a
#   replica closed the connection without answering (it died mid-request, or its keep-alive timed out
#   as the request arrived): they change nothing, so sending one twice is safe. Every other request
#   (uploads, promotions, MLflow writes) is retried only when it never reached a replica.
# - keep-alive to the replicas (`http-reuse safe`: a client's first request never rides a connection
#   that may be closing), so a prediction costs no new connection.
# - timeouts: 2 s to connect on loopback; 5 minutes of server time, the longest a push or a gated
#   promotion may take to answer; 60 s for a client to send a request's headers.
config() {
  local dir=$1 port=$2
  shift 2
  cat <<EOF
global
  log stderr format raw local0 notice
  maxconn 4096
  stats socket $dir/admin.sock mode 600 level admin

defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  option forwardfor
  option http-keep-alive
  http-reuse safe
  timeout connect 2s
  timeout client 5m
  timeout server 5m
  timeout http-request 60s
  timeout http-keep-alive 60s
  timeout queue 30s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout

frontend slipway
  bind 127.0.0.1:$port
  # HAProxy itself answers this path: is the load balancer up (whatever the replicas)?
  monitor-uri /haproxy/live
  default_backend replicas

backend replicas
  balance roundrobin
  acl prediction path_reg ^(/envs/[^/]+)?/v1/models/[^/]+:(predict|explain)\$
  acl prediction path_reg ^(/envs/[^/]+)?/v2/models/[^/]+(/versions/[^/]+)?/infer\$
  http-request disable-l7-retry unless prediction || METH_GET || METH_HEAD
  option httpchk
  # HTTP/1.1 with a loopback Host: Slipway answers only the host names it is told (SLIPWAY_ALLOWED_HOSTS).
  http-check send meth GET uri /v2/health/ready ver HTTP/1.1 hdr Host 127.0.0.1
  http-check expect status 200
  default-server check inter 1s fastinter 250ms downinter 1s fall 2 rise 1
EOF
  local n=0 backend name address
  for backend in "$@"; do
    n=$((n + 1))
    if [[ $backend == *=* ]]; then
      name=${backend%%=*}
      address=${backend#*=}
    else
      name="server-$n"
      address=$backend
    fi
    echo "  server $name $address"
  done
}

case "${1:-}" in
  install)
    if command -v haproxy >/dev/null; then exit 0; fi
    echo "installing HAProxy from Debian's packages" >&2
    # The package lists may be missing or stale: refresh them only when the first attempt fails.
    apt_install 2>/dev/null || { $SUDO apt-get update -qq && apt_install; }
    command -v haproxy >/dev/null || { echo "HAProxy did not install" >&2; exit 1; }
    ;;
  start)
    dir=${2:?usage: haproxy.sh start DIR PORT BACKEND...}
    port=${3:?usage: haproxy.sh start DIR PORT BACKEND...}
    shift 3
    [[ $# -gt 0 ]] || { echo "usage: haproxy.sh start DIR PORT BACKEND..." >&2; exit 2; }
    command -v haproxy >/dev/null || { echo "HAProxy is not installed: run scripts/haproxy.sh install" >&2; exit 1; }
    mkdir -p "$dir"
    config "$dir" "$port" "$@" >"$dir/haproxy.cfg"
    haproxy -c -q -f "$dir/haproxy.cfg" || { echo "invalid configuration in $dir/haproxy.cfg" >&2; exit 1; }
    # Detached, its output in a file: the caller waits for this script, not for the server.
    setsid haproxy -W -db -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" </dev/null >"$dir/haproxy.log" 2>&1 &
    master=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      if curl -fsS "$url/haproxy/live" >/dev/null 2>&1; then
        # -p writes the file as HAProxy starts; write it here too so that stop finds the master at once.
        echo "$master" >"$dir/haproxy.pid"
        echo "$url"
        exit 0
      fi
      kill -0 "$master" 2>/dev/null || break
      sleep 0.1
    done
    echo "HAProxy did not start on $url" >&2
    cat "$dir/haproxy.log" >&2
    kill "$master" 2>/dev/null || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: haproxy.sh stop DIR}
    if [[ -f "$dir/haproxy.pid" ]]; then
      pid=$(head -n 1 "$dir/haproxy.pid")
      # SIGUSR1: the master stops listening and lets its workers finish the requests in flight.
      if kill -USR1 "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/haproxy.sh install | start DIR PORT BACKEND... | stop DIR" >&2
    exit 2
    ;;
esac
