# The Sluice image: one image, every role (`serve --role ...`) and the simulator.
FROM node:24-slim AS build
WORKDIR /app
RUN corepack enable
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY test/package.json ./test/package.json
RUN pnpm install --frozen-lockfile && pnpm run build && pnpm prune --prod

FROM node:24-slim
WORKDIR /app
# HOST: inside a container loopback is unreachable from outside, so listen on every interface
# (without HOST, Sluice listens on 127.0.0.1 when no API keys are configured). Publish the port
# to 127.0.0.1 on the host, or configure SLUICE_API_KEYS, before exposing it further.
ENV NODE_ENV=production SLUICE_DATA_DIR=/data HOST=0.0.0.0
COPY --from=build /app /app
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["node", "packages/cli/dist/bin.js"]
CMD ["serve"]
