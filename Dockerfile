# Sluice container image: docker build -t sluice .   (README, "Docker and Compose")
# test/integration/docker-image.test.ts parses this file and runs the runtime stage's steps on the
# host (no container engine runs on the CI machines): keep RUN lines plain, one command list each.
# The Node major is the newer one CI tests (scripts/test-on-node.sh 24 in .ci/run).
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. build: every dependency, TypeScript compiled to dist/ by npm ci's prepare script
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund

# 2. production dependencies only: the build's node_modules pruned, so the native addon
#    (better-sqlite3, compiled from source where no prebuilt binary can be fetched) is built once
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
RUN npm prune --omit=dev --no-audit --no-fund

# 3. runtime: production dependencies, dist/src and the launcher; nothing else of the repository
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to Sluice (which drains and releases the spool lock) and reaps zombies.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY bin ./bin
COPY --from=build /src/dist/src ./dist/src
# Mount the configuration at /etc/sluice/sluice.yaml; spool (and try-out certificates) live in the volume.
RUN mkdir -p /etc/sluice /var/lib/sluice && chown node:node /var/lib/sluice
USER node
VOLUME ["/var/lib/sluice"]
# 2525 SMTP; 8025 the admin HTTP endpoint (GET /healthz, being added by the operations issue).
EXPOSE 2525 8025
# A TCP check of the SMTP port until /healthz lands; then: fetch('http://127.0.0.1:8025/healthz').
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "-e", "const s=require('net').connect(2525,'127.0.0.1');s.setTimeout(4000,()=>process.exit(1));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/sluice.cjs"]
CMD ["start", "--config", "/etc/sluice/sluice.yaml"]
