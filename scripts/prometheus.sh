#!/usr/bin/env bash
# A throw-away Prometheus server that scrapes Slipway in tests, from Debian's packages, on loopback only.
#
#   scripts/prometheus.sh install                 install the `prometheus` package (server and promtool)
#                                                 if either is missing; no system service is left running
#   scripts/prometheus.sh start DIR PORT TARGET [RULES]
#                                                 write a config into DIR that scrapes TARGET (host:port,
#                                                 path /metrics) every second as job `slipway` (and
#                                                 evaluates the rule file RULES every second), start
#                                                 Prometheus on 127.0.0.1:PORT with its storage in DIR,
#                                                 wait until it is ready and print its URL
#   scripts/prometheus.sh stop DIR                stop the server started in DIR and remove DIR
set -euo pipefail

installed() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null
}

# Debian's package enables and starts a `prometheus` service on 0.0.0.0:9090. Tests start their own
# server, so the install runs with a policy-rc.d that forbids starting services (unless the machine
# already has one), and whatever started anyway is stopped and disabled.
install_without_service() {
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || status=$?
  [[ -n $made_policy ]] && $SUDO rm -f "$policy"
  if [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/prometheus ]]; then
    $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
  return $status
}

case "${1:-}" in
  install)
    if installed; then exit 0; fi
    echo "installing Prometheus from Debian's packages" >&2
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    install_without_service
    installed || { echo "Prometheus did not install" >&2; exit 1; }
    ;;
  start)
    dir=${2:?usage: prometheus.sh start DIR PORT TARGET [RULES]}
    port=${3:?usage: prometheus.sh start DIR PORT TARGET [RULES]}
    target=${4:?usage: prometheus.sh start DIR PORT TARGET [RULES]}
    rules=${5:-}
    installed || { echo "Prometheus is not installed: run scripts/prometheus.sh install" >&2; exit 1; }
    mkdir -p "$dir/data"
    cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: slipway
    metrics_path: /metrics
    static_configs:
      - targets: ['$target']
EOF
    if [[ -n $rules ]]; then
      printf 'rule_files:\n  - %s\n' "$(realpath "$rules")" >>"$dir/prometheus.yml"
    fi
    # Detached, its output in a file: the caller waits for this script, not for the server.
    setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1h \
      </dev/null >"$dir/prometheus.log" 2>&1 &
    echo $! >"$dir/prometheus.pid"
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 300); do
      if curl -fsS "$url/-/ready" >/dev/null 2>&1; then
        echo "$url"
        exit 0
      fi
      kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "Prometheus did not become ready on $url" >&2
    cat "$dir/prometheus.log" >&2
    kill "$(cat "$dir/prometheus.pid")" 2>/dev/null || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: prometheus.sh stop DIR}
    if [[ -f "$dir/prometheus.pid" ]]; then
      pid=$(cat "$dir/prometheus.pid")
      if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 100); do
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/prometheus.sh install | start DIR PORT TARGET [RULES] | stop DIR" >&2
    exit 2
    ;;
esac
