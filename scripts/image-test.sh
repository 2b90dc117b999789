#!/usr/bin/env bash
# Tests the image that scripts/image.sh built (`make image-test`), daemonless, with buildah:
#   - its configuration: non-root USER 10001, ENTRYPOINT/CMD, HEALTHCHECK, OCI labels, port, volume;
#   - the OCI archive (build/slipway-image.tar) holds the same image;
#   - Node 24 and the three native modules (better-sqlite3, onnxruntime-node, @duckdb/node-api) load;
#   - its entry point, as the image's user, creates the first admin token in the data volume, then serves
#     (authentication on) on a loopback port; the image's own health check passes; the penguin-species
#     example model is pushed over the HTTP API and predicts; /health says healthy; the server process's
#     UID is 10001 and the files it wrote in the volume are that user's.
# Any failure stops the test with a message and a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSION=$(node -p "require('./package.json').version")
IMAGE_NAME=${IMAGE_NAME:-localhost/slipway:$VERSION}
ARCHIVE=${ARCHIVE:-$ROOT/build/slipway-image.tar}
IMAGE_STORAGE_DRIVER=${IMAGE_STORAGE_DRIVER:-vfs} # as for scripts/image.sh
export STORAGE_DRIVER=$IMAGE_STORAGE_DRIVER BUILDAH_ISOLATION=chroot
BUILDAH=(buildah --storage-driver "$IMAGE_STORAGE_DRIVER")
[ "$IMAGE_STORAGE_DRIVER" = vfs ] ||
  BUILDAH+=(--root "/var/lib/containers/storage-$IMAGE_STORAGE_DRIVER" --runroot "/run/containers/storage-$IMAGE_STORAGE_DRIVER")
UID_EXPECTED=10001

fail() { printf '\nimage-test: FAILED: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok - %s\n' "$*"; passed=$((passed + 1)); }
passed=0

command -v buildah >/dev/null || fail "buildah is not installed (make image installs it)"
"${BUILDAH[@]}" inspect --type image "$IMAGE_NAME" >/dev/null 2>&1 || fail "no image $IMAGE_NAME: run make image first"

work=$(mktemp -d)
chmod 0755 "$work"
ctr=
server=
pid=
descendants() { # pid -> its descendants' pids, deepest first
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}
stop_server() { # SIGTERM to the server process (node), then wait for its `buildah run` to end
  [ -n "$server" ] || return 0
  local procs
  procs=$(descendants "$server")
  # the server: the `node` under `buildah run` (and buildah-chroot-exec) that runs slipway.js, not a worker
  if [ -z "$pid" ]; then
    for p in $procs; do
      tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -Eq '^(/usr/local/bin/)?node /app/bin/slipway\.js serve' && pid=$p
    done
  fi
  [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$server" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$server" 2>/dev/null; then
    kill -KILL $procs "$server" 2>/dev/null || true
  fi
  wait "$server" 2>/dev/null || true
  server= pid=
}
cleanup() {
  local rc=$?
  stop_server
  [ -z "$ctr" ] || "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true
  if [ $rc -ne 0 ] && [ -s "$work/server.log" ]; then
    printf '\n--- server log (last 40 lines) ---\n' >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the image's configuration --------------------------------------------------------------------------
"${BUILDAH[@]}" inspect --type image "$IMAGE_NAME" >"$work/inspect.json"
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REVISION=$REVISION-dirty
python3 - "$work/inspect.json" "$UID_EXPECTED" "$REVISION" "$VERSION" <<'EOF' || fail "image configuration (above; make image rebuilds it)"
import json, sys
info = json.load(open(sys.argv[1]))
uid = sys.argv[2]
oci = info["OCIv1"]["config"]
docker = info["Docker"]["config"]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
check(oci.get("User") == f"{uid}:{uid}", f"USER is {oci.get('User')!r}, not {uid}:{uid}")
check(oci.get("Entrypoint") == ["node", "/app/bin/slipway.js"], f"ENTRYPOINT is {oci.get('Entrypoint')}")
check(oci.get("Cmd") == ["serve"], f"CMD is {oci.get('Cmd')}")
env = dict(e.split("=", 1) for e in oci.get("Env", []))
check(env.get("SLIPWAY_HOST") == "0.0.0.0", f"SLIPWAY_HOST is {env.get('SLIPWAY_HOST')!r}")
check(env.get("SLIPWAY_PORT") == "8080", f"SLIPWAY_PORT is {env.get('SLIPWAY_PORT')!r}")
check(env.get("SLIPWAY_DATA_DIR") == "/data", f"SLIPWAY_DATA_DIR is {env.get('SLIPWAY_DATA_DIR')!r}")
check("8080/tcp" in (oci.get("ExposedPorts") or {}), "port 8080 is not exposed")
check("/data" in (oci.get("Volumes") or {}), "/data is not a volume")
labels = oci.get("Labels") or {}
for key in ("version", "revision", "source"):
    check(f"org.opencontainers.image.{key}" in labels, f"label org.opencontainers.image.{key} is missing")
check(labels.get("org.opencontainers.image.version") == sys.argv[4], f"the version label is {labels.get('org.opencontainers.image.version')!r}, package.json says {sys.argv[4]}")
check(labels.get("org.opencontainers.image.revision") == sys.argv[3], f"the revision label is {labels.get('org.opencontainers.image.revision')!r}, the work tree is {sys.argv[3]}: the image is not of this revision")
health = (docker.get("Healthcheck") or {}).get("Test") or []
check(health[:1] == ["CMD"] and "/v2/health/ready" in " ".join(health), f"HEALTHCHECK is {health}")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(json.dumps(health[1:]), file=open(sys.argv[1] + ".health", "w"))
EOF
ok "configuration: USER $UID_EXPECTED:$UID_EXPECTED, ENTRYPOINT node /app/bin/slipway.js, CMD serve, HEALTHCHECK, OCI labels, 8080, /data"

# --- the OCI archive holds this image ---------------------------------------------------------------------
if [ -s "$ARCHIVE" ]; then
  archived=$(python3 - "$ARCHIVE" <<'EOF'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as archive:
    if "index.json" in archive.getnames():  # OCI layout
        blob = lambda d: json.load(archive.extractfile("blobs/" + d.replace(":", "/")))
        manifest = blob(json.load(archive.extractfile("index.json"))["manifests"][0]["digest"])
        config = blob(manifest["config"]["digest"])
    else:  # docker-archive
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        config = json.load(archive.extractfile(manifest["Config"]))
    print(config["config"]["Labels"]["org.opencontainers.image.revision"], config["config"]["User"])
EOF
  ) || fail "$ARCHIVE is not a readable OCI or docker archive"
  want="$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["OCIv1"]["config"]; print(c["Labels"]["org.opencontainers.image.revision"], c["User"])' "$work/inspect.json")"
  [ "$archived" = "$want" ] || fail "$ARCHIVE holds revision/user '$archived', the image '$want'"
  ok "archive $ARCHIVE: revision and user match the image"
else
  fail "no OCI archive at $ARCHIVE"
fi

# --- a container of the image ------------------------------------------------------------------------------
ctr=$("${BUILDAH[@]}" from --quiet --pull=never "$IMAGE_NAME")
mapfile -t ENTRYPOINT < <(python3 -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["OCIv1"]["config"]["Entrypoint"]]' "$work/inspect.json")
mapfile -t HEALTH < <(python3 -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))]' "$work/inspect.json.health")

# `buildah run` runs as the image's USER. /data is the image's own volume (what a new named volume starts
# from under docker): buildah keeps it per container, across these runs.
run() { "${BUILDAH[@]}" run --isolation chroot "$@"; }

got=$(run "$ctr" -- node -e 'console.log(process.getuid() + ":" + process.getgid() + " " + process.version)')
[ "$got" = "$UID_EXPECTED:$UID_EXPECTED v24.${got#*v24.}" ] || fail "node in the image runs as/with '$got'"
ok "node ${got#* } runs as $UID_EXPECTED:$UID_EXPECTED"

run --workingdir /app "$ctr" -- node -e '
  const Database = require("better-sqlite3");
  if (new Database(":memory:").prepare("select 41 + 1 as n").get().n !== 42) process.exit(2);
  require("onnxruntime-node");
  const { DuckDBInstance } = require("@duckdb/node-api");
  DuckDBInstance.create(":memory:")
    .then((db) => db.connect())
    .then((c) => c.runAndReadAll("select 42 as n"))
    .then((r) => { if (Number(r.getRows()[0][0]) !== 42) process.exit(3); })
    .catch((e) => { console.error(e); process.exit(4); });
' || fail "a native module does not load in the image (better-sqlite3, onnxruntime-node, @duckdb/node-api)"
ok "better-sqlite3, onnxruntime-node and @duckdb/node-api load and run"

run "$ctr" -- sh -c '
  for p in /usr/local/bin/npm /usr/local/lib/node_modules/npm /app/src /app/tests /app/node_modules/typescript \
           /app/node_modules/vitest /app/node_modules/vega-datasets/data /app/node_modules/better-sqlite3/deps \
           /app/node_modules/onnxruntime-node/bin/napi-v6/darwin /app/node_modules/onnxruntime-node/bin/napi-v6/win32 \
           /app/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64 /usr/bin/gcc /usr/bin/make; do
    if [ -e "$p" ]; then echo "$p is in the image"; exit 1; fi
  done
  test -z "$(find /app -path /app/node_modules -prune -o -name "*.ts" -print | head -n1)" || { echo "TypeScript sources in /app"; exit 1; }
  test -s /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
' || fail "the image holds what the runtime does not need, or lacks onnxruntime's linux-x64 binary (above)"
ok "no npm, compilers, Slipway's TypeScript sources or tests, dev dependencies, demo data, other platforms' binaries"

# --- the entry point: first token, then the server -------------------------------------------------------
token=$(run "$ctr" -- "${ENTRYPOINT[@]}" tokens create admin --role admin --local 2>"$work/token.err" | grep -o 'slw_[A-Za-z0-9_-]*' | head -n1) ||
  true
[ -n "$token" ] || { cat "$work/token.err" >&2; fail "slipway tokens create --local printed no token"; }
ok "entry point: tokens create admin --local wrote the first token into /data"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
# Loopback only for the test (the image's default is 0.0.0.0); authentication stays on, as in the image.
run --env SLIPWAY_HOST=127.0.0.1 --env SLIPWAY_PORT="$port" "$ctr" -- "${ENTRYPOINT[@]}" serve \
  >"$work/server.log" 2>&1 &
server=$!

for _ in $(seq 120); do
  curl -fsS -o /dev/null "$base/v2/health/ready" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || fail "the server exited during start-up"
  sleep 0.5
done
curl -fsS -o /dev/null "$base/v2/health/ready" || fail "the server was not ready within 60 s"
ok "serve: ready on $base"

run --env SLIPWAY_PORT="$port" "$ctr" -- "${HEALTH[@]}" || fail "the image's HEALTHCHECK command failed"
ok "the image's HEALTHCHECK command passes"

pid=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
[ -n "$pid" ] || fail "no process listens on port $port"
server_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$server_uid" = "$UID_EXPECTED" ] || fail "the server process runs as UID $server_uid, not $UID_EXPECTED"
ok "the server process (pid $pid) runs as UID $server_uid"

auth=(-H "authorization: Bearer $token")
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/models" -H 'content-type: application/json' \
  -d '{"name": "penguin-species"}')
[ "$status" = 401 ] || fail "an API call without a token got HTTP $status, not 401"
ok "authentication is on: no token, 401"

curl -fsS "${auth[@]}" -X POST "$base/api/v1/models" -H 'content-type: application/json' \
  -d '{"name": "penguin-species"}' >"$work/model.json" || fail "POST /api/v1/models"
curl -fsS "${auth[@]}" -X POST "$base/api/v1/models/penguin-species/versions" -H 'x-slipway-client: image-test' \
  -F "manifest=<examples/penguin-species/manifest.json" -F "model=@examples/penguin-species/model.onnx" \
  >"$work/version.json" || fail "POST /api/v1/models/penguin-species/versions: $(cat "$work/version.json")"
ok "pushed examples/penguin-species (model.onnx + manifest.json)"

# The manifest's sample rows, as the request's instances; a push deploys to dev.
python3 -c 'import json,sys; print(json.dumps({"instances": json.load(open(sys.argv[1]))["sample"]}))' \
  examples/penguin-species/manifest.json >"$work/request.json"
predicted=
for _ in $(seq 60); do
  if curl -fsS "${auth[@]}" -X POST "$base/envs/dev/v1/models/penguin-species:predict" \
    -H 'content-type: application/json' --data-binary "@$work/request.json" >"$work/prediction.json" 2>/dev/null; then
    predicted=yes
    break
  fi
  sleep 0.5
done
[ -n "$predicted" ] || fail "no prediction from /envs/dev/v1/models/penguin-species:predict: $(cat "$work/prediction.json")"
python3 - "$work/request.json" "$work/prediction.json" <<'EOF' || fail "prediction (above)"
import json, sys
rows = json.load(open(sys.argv[1]))["instances"]
predictions = json.load(open(sys.argv[2]))["predictions"]
assert len(predictions) == len(rows), f"{len(predictions)} predictions for {len(rows)} rows"
for p in predictions:
    assert p["label"] in ("Adelie", "Chinstrap", "Gentoo"), p
    assert abs(sum(p["probabilities"]) - 1) < 1e-3, p
print("predictions:", ", ".join(p["label"] for p in predictions))
EOF
ok "predict: the sample rows answered by the model in the image"

curl -fsS "$base/health" >"$work/health.json" || fail "GET /health"
python3 - "$work/health.json" <<'EOF' || fail "/health (above)"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "healthy", h
assert h["ready"] is True, h
assert h["model_loaded"] is True, h
EOF
ok "/health: healthy, ready, model loaded"

run "$ctr" -- sh -c 'test -s /data/registry.db && test -d /data/artifacts && test -z "$(find /data ! -uid 10001)"' ||
  fail "the data volume lacks registry.db or artifacts/, or holds files not owned by UID $UID_EXPECTED"
ok "the data volume holds registry.db and artifacts/, all owned by UID $UID_EXPECTED"

stop_server
grep -q . "$work/server.log" || fail "the server wrote no log"
printf '\n%d passed, 0 failed\n' "$passed"
