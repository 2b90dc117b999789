# Slipway's container image: `docker build -t slipway .` where base images can be pulled, or
# `make image` (scripts/image.sh) to build it offline with buildah on base images made from Debian's
# packages and the npm registry's Node. README.md, "Container image"; RUNBOOK.md, "Running the image".
#
# Two base images, both Node 24 (LTS) on Debian bookworm:
#   BUILD_IMAGE  has npm, Node's headers (/usr/local/include/node) and a C++ toolchain with Python 3,
#                which node-gyp needs to compile better-sqlite3 for Node 24's ABI;
#   NODE_IMAGE   runs the server and needs only `node` in /usr/local/bin and a shell.
ARG BUILD_IMAGE=node:24-bookworm
ARG NODE_IMAGE=node:24-bookworm-slim

# Every dependency, installed once from the lockfile; better-sqlite3 compiled for Node 24.
FROM ${BUILD_IMAGE} AS deps
WORKDIR /src
# better-sqlite3 is compiled here from its sources against Node 24's own headers, never fetched: node-gyp
# reads them from npm_config_nodedir (offline it could not download them), prebuild-install is told to
# build from source. onnxruntime-node and @duckdb/node-api are N-API: their linux-x64 binaries come inside
# npm packages (.npmrc's onnxruntime-node-install=skip keeps onnxruntime's install script from fetching
# anything), so no install script runs at all but better-sqlite3's.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
# Behind a TLS-intercepting proxy, hand its CA to npm as a build secret (never stored in a layer):
#   docker build --secret id=extra_ca,src=/path/to/ca.pem .
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --ignore-scripts \
 && JOBS=max npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" \
 && npm cache clean --force

# The compiled JavaScript: only this stage reruns when the sources change.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && find dist -name '*.d.ts' -delete -o -name '*.map' -delete

# Production dependencies only (npm prune --omit=dev of the same install), less what the server never
# loads: onnxruntime's binaries for other platforms, better-sqlite3's C sources and build objects, the
# demo's data sets (`slipway demo` is not part of the image), and the native binaries' debug symbols.
FROM deps AS prod-deps
RUN npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin \
           node_modules/onnxruntime-node/bin/napi-v*/win32 \
           node_modules/onnxruntime-node/bin/napi-v*/linux/arm64 \
           node_modules/vega-datasets/data \
           node_modules/better-sqlite3/deps \
           node_modules/better-sqlite3/src \
 && find node_modules/better-sqlite3/build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + \
 && find node_modules/better-sqlite3/build/Release -mindepth 1 ! -name better_sqlite3.node -exec rm -rf {} + \
 && strip --strip-unneeded node_modules/better-sqlite3/build/Release/better_sqlite3.node \
           node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so \
           node_modules/@duckdb/node-bindings-linux-x64/duckdb.node \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
 && node -e "require('onnxruntime-node'); require('@duckdb/node-api'); new (require('better-sqlite3'))(':memory:')" \
 && rm -rf /root/.npm /tmp/*

FROM ${NODE_IMAGE} AS runtime
# A fixed, non-root user (UID/GID 10001) owns the data volume; the application files stay root's,
# read-only to it. The passwd/group lines are written directly: no useradd is needed in the base.
# The server needs no package manager: npm and yarn go (the official node images carry them).
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && echo 'slipway:x:10001:10001:Slipway:/data:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'slipway:x:10001:' >> /etc/group \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data
ENV NODE_ENV=production \
    SLIPWAY_HOST=0.0.0.0 \
    SLIPWAY_PORT=8080 \
    SLIPWAY_DATA_DIR=/data
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin/slipway.js ./bin/slipway.js
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# The labels come last: a new revision rebuilds no layer above.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
# The repository URL (scripts/image.sh passes `git remote get-url origin` when there is one).
ARG SOURCE=
LABEL org.opencontainers.image.title="Slipway" \
      org.opencontainers.image.description="Self-hosted model registry, serving and deployment for ONNX models" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
# Readiness of the HTTP port, over loopback (always an allowed Host), without a token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SLIPWAY_PORT||8080)+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/slipway.js"]
CMD ["serve"]
