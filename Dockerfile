# syntax=docker/dockerfile:1
# Base images are build arguments, so the image can be built where no registry serves them (see the
# README, "The image, and building it without Docker": local bases made from Debian packages).
# Build: Debian-based, since the `node` devDependency that pins npm scripts to Node 24 ships a glibc binary.
ARG BUILD_IMAGE=node:24-slim
# Run: distroless (Debian's glibc and Node at /nodejs/bin/node; no shell, no package manager). Another
# runtime base must have Node at that path.
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npm run build

# Run: only the bundle (dist/main.js holds the operator and the dependency code it reaches; no
# node_modules), as an unprivileged user. Nothing here runs a command: the runtime base has no shell.
FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production
# glibc otherwise raises its mmap threshold to the largest buffer freed so far (a page of a LIST, a few
# MiB), after which such buffers come from its heap and their pages are rarely given back: fixed
# thresholds return them. With 10,000 FliptClients, 20 to 30 MiB less resident when idle (docs/benchmarks.md).
ENV MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/dist ./dist
USER 1000:1000
EXPOSE 8443 8080 8081
# A bounded heap keeps garbage collection ahead of the container's memory limit (deploy/: 512Mi). Small
# young-generation semi-spaces (Node's default lets them grow to tens of MiB each, and V8 keeps what it
# grew to) halve the resident set after a start with thousands of FliptClients, at no measured cost in speed.
ENTRYPOINT ["/nodejs/bin/node", "--max-old-space-size=256", "--max-semi-space-size=4", "dist/main.js"]
CMD ["--config", "/etc/flipt-client-operator/config.yaml"]
