# syntax=docker/dockerfile:1
# scripts/container-smoke.ts runs these same steps in a shell (.ci/run), where Docker is not available.

# Build: every dependency, compile the TypeScript, then drop the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: Node, the compiled JavaScript and the production dependencies, run as the unprivileged `node`.
# The heap cap keeps a 512 MiB instance well clear of its limit (the service uses 40-60 MB of heap under
# load, docs/performance.md); the overload guard sheds requests at 90 % of it rather than running out.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/home/node/data \
    NODE_OPTIONS="--enable-source-maps --max-old-space-size=192"
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
# For docker compose; Cloud Run probes /readyz itself (infra/run.tf).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The migration job runs `node dist/db/migrate-cli.js`, operators `node dist/cli/apikey.js` and
# `node dist/cli/account.js`, in this image.
CMD ["node", "dist/server.js"]
