#!/usr/bin/env bash
# A throw-away S3-compatible server (MinIO, built from the Go module proxy) for Slipway's tests, on
# loopback only.
#
#   scripts/s3.sh install          build the pinned MinIO into <repo>/.tools/minio if it is missing
#                                  (needs Go; takes a few minutes the first time)
#   scripts/s3.sh start DIR PORT   serve DIR on 127.0.0.1:PORT (its console on another free port)
#                                  with the root credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
#                                  (default slipway / slipway-secret), wait until it is ready and
#                                  print its endpoint URL
#   scripts/s3.sh stop DIR         stop the server started on DIR and remove DIR
set -euo pipefail

# A MinIO commit from the Go module proxy (MinIO publishes no semver module tags).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$REPO/.tools"
MINIO="$TOOLS/minio"

installed() {
  [[ -x $MINIO ]] && go version -m "$MINIO" 2>/dev/null | grep -q "mod[[:space:]]*github.com/minio/minio[[:space:]]*$MINIO_VERSION"
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

case "${1:-}" in
  install)
    if installed; then exit 0; fi
    command -v go >/dev/null || { echo "Go is needed to build MinIO: install golang" >&2; exit 1; }
    echo "building MinIO $MINIO_VERSION into $TOOLS (a few minutes)" >&2
    mkdir -p "$TOOLS"
    GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
    installed || { echo "MinIO did not build" >&2; exit 1; }
    ;;
  start)
    dir=${2:?usage: s3.sh start DIR PORT}
    port=${3:?usage: s3.sh start DIR PORT}
    [[ -x $MINIO ]] || { echo "MinIO is not installed: run scripts/s3.sh install" >&2; exit 1; }
    mkdir -p "$dir/data"
    console=$(free_port)
    # Detached, its output in a file: the caller waits for this script, not for the server.
    MINIO_ROOT_USER="${AWS_ACCESS_KEY_ID:-slipway}" MINIO_ROOT_PASSWORD="${AWS_SECRET_ACCESS_KEY:-slipway-secret}" \
      MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
      setsid "$MINIO" server "$dir/data" --quiet --address "127.0.0.1:$port" \
      --console-address "127.0.0.1:$console" </dev/null >"$dir/minio.log" 2>&1 &
    echo $! >"$dir/minio.pid"
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 300); do
      if curl -fsS "$url/minio/health/ready" >/dev/null 2>&1; then
        echo "$url"
        exit 0
      fi
      kill -0 "$(cat "$dir/minio.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "MinIO did not become ready on $url" >&2
    cat "$dir/minio.log" >&2
    kill "$(cat "$dir/minio.pid")" 2>/dev/null || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: s3.sh stop DIR}
    if [[ -f "$dir/minio.pid" ]]; then
      pid=$(cat "$dir/minio.pid")
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
    echo "usage: scripts/s3.sh install | start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
