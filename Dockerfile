# mitmscope in a container: proxy on 8080, dashboard on 8081, root CA in the /data/ca volume.
#   docker build -t mitmscope .
#   docker run --rm -e MITMSCOPE_TOKEN=<secret> -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 \
#     -v mitmscope-ca:/data/ca mitmscope
# See docs/SETUP.md. Listening on 0.0.0.0 inside the container requires a token (MITMSCOPE_TOKEN).

# Debian-based slim image of the current Node LTS (26; engines allows 20 through 26): glibc for
# esbuild's binary, and the same OpenSSL family the tests use. Both stages use it, so the native
# addon built in the first runs in the second.
ARG NODE_IMAGE=node:26-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary for this Node when one is published and compiles
# itself with node-gyp otherwise, which needs Python, make and a C++ compiler (build stage only).
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# Everything not excluded by .dockerignore (never the CA folder or local HAR/key files): the
# sources come first because `npm ci` runs `prepare`, which builds the server (dist/) and the
# dashboard front end (ui/dist/).
COPY . .
RUN npm ci --no-audit --no-fund
# What runs: production dependencies only (native addons stay built for this image's Node).
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/ui/dist ./ui/dist
# Owned by node so the CA can be created on first start; a new named volume copies this ownership.
RUN mkdir -p /data/ca && chown node:node /data/ca
USER node
VOLUME ["/data/ca"]
EXPOSE 8080 8081
# slim images have no curl: node asks the proxy itself, which answers its own address with 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:8080/', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).setTimeout(4000, () => process.exit(1))"]
CMD ["node", "dist/src/cli.js", "--host", "0.0.0.0", "--ca-dir", "/data/ca"]
