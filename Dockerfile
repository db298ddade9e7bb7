# One image recipe for every Defib part: SERVICE_DIR picks the workspace to run (services/registry,
# services/monitor, services/recovery, services/notifier, simulator). Node 24 runs the TypeScript sources
# directly, so the image holds sources and production dependencies only.
FROM node:24-slim AS deps
ARG SERVICE_DIR
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install --global pnpm@10.34.8
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/clouds/package.json packages/clouds/
COPY packages/contracts/package.json packages/contracts/
COPY packages/platform/package.json packages/platform/
COPY packages/supervisor/package.json packages/supervisor/
COPY services/monitor/package.json services/monitor/
COPY services/recovery/package.json services/recovery/
COPY services/registry/package.json services/registry/
COPY services/notifier/package.json services/notifier/
COPY simulator/package.json simulator/
COPY test/package.json test/
# "{dir}..." selects the part and its workspace dependencies (with their dependencies);
# "./dir..." would select the part alone, leaving packages/platform without its own.
RUN pnpm install --frozen-lockfile --prod --filter "{./${SERVICE_DIR}}..."

FROM node:24-slim
ARG SERVICE_DIR
ENV NODE_ENV=production SERVICE_DIR=${SERVICE_DIR} HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app /app
COPY packages packages
COPY ${SERVICE_DIR} ${SERVICE_DIR}
USER node
CMD ["sh", "-c", "exec node \"$SERVICE_DIR/src/main.ts\""]
