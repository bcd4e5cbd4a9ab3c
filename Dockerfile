# syntax=docker/dockerfile:1
# Base images are build arguments, so the image can be built where no registry serves them (see the
# README, "Build the image without Docker": a local Node 24 base made from Debian packages).
# Build: Debian-based, since the `node` devDependency that pins npm scripts to Node 24 ships a glibc binary.
ARG BUILD_IMAGE=node:24-slim
# Run: Debian-based too (see the README for why not Alpine): the libc the build stage and the tests use.
ARG RUNTIME_IMAGE=node:24-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npm run build

# Run: only the bundle (dist/main.js holds the operator and the dependency code it reaches; no
# node_modules), as the unprivileged `node` user.
FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production
# npm, npx, corepack and yarn are build tools the operator (and the chart's `helm test` hook, which runs
# `node -e`) never runs: the container cannot run them either. Their links in /usr/local/bin dangle then.
RUN rm -rf /usr/local/lib/node_modules /opt/yarn-* && find /usr/local/bin -xtype l -delete
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/dist ./dist
USER 1000:1000
EXPOSE 8443 8080 8081
# A bounded heap keeps garbage collection ahead of the container's memory limit (deploy/: 512Mi). Small
# young-generation semi-spaces (Node's default lets them grow to tens of MiB each, and V8 keeps what it
# grew to) halve the resident set after a start with thousands of FliptClients, at no measured cost in speed.
ENTRYPOINT ["node", "--max-old-space-size=256", "--max-semi-space-size=4", "dist/main.js"]
CMD ["--config", "/etc/flipt-client-operator/config.yaml"]
