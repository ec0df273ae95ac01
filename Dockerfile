# Sluice in a container: build the TypeScript, then run as an unprivileged user.
# Mount your config at /etc/sluice/sluice.yaml, certificates where it points, and a volume
# for the spool (the durable queue must outlive the container).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --ignore-scripts && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY config ./config
RUN mkdir -p /var/spool/sluice && chown node:node /var/spool/sluice
USER node
VOLUME ["/var/spool/sluice"]
EXPOSE 2525
ENTRYPOINT ["node", "bin/sluice.cjs"]
CMD ["start", "--config", "/etc/sluice/sluice.yaml"]
