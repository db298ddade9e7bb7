# One image for every Defib part: the four services, the simulator, the defib CLI and the drill (which starts its own
# copies of all five as processes inside its container). docker-compose.yml runs each part with its own
# command (`node services/registry/src/main.ts`, …); without one the image runs every part at once, as
# `pnpm start` does. Node 24 runs the TypeScript sources directly, so the image holds sources and
# production dependencies only; .dockerignore lists what the build context holds.
FROM node:24-slim AS deps
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install --global pnpm@10.34.8
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY bench/package.json bench/
COPY packages/cli/package.json packages/cli/
COPY packages/clouds/package.json packages/clouds/
COPY packages/contracts/package.json packages/contracts/
COPY packages/drill/package.json packages/drill/
COPY packages/platform/package.json packages/platform/
COPY packages/supervisor/package.json packages/supervisor/
COPY services/monitor/package.json services/monitor/
COPY services/notifier/package.json services/notifier/
COPY services/recovery/package.json services/recovery/
COPY services/registry/package.json services/registry/
COPY simulator/package.json simulator/
COPY test/package.json test/
# The runnable parts with their workspace dependencies and theirs ("{dir}..."; pnpm reads "./dir..."
# as the part alone); the tests and benchmarks stay out.
RUN pnpm install --frozen-lockfile --prod \
  --filter "{./services/*}..." --filter "{./simulator}..." --filter "{./packages/drill}..." --filter "{./packages/supervisor}..." --filter "{./packages/cli}..."

FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app /app
COPY . .
# The drill writes its reports here (docker-compose.yml mounts ./reports over it).
RUN mkdir -p reports && chown node:node reports
USER node
CMD ["node", "packages/supervisor/src/main.ts"]
