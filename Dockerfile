# syntax=docker/dockerfile:1
# Build: compile TypeScript with the project's pinned toolchain.
# Debian-based: the `node` devDependency that pins npm scripts to Node 24 ships a glibc binary.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: only the compiled JavaScript and production dependencies, as the unprivileged `node` user.
FROM node:24-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 1000:1000
EXPOSE 8443 8080 8081
# A bounded heap keeps garbage collection ahead of the container's memory limit (deploy/: 512Mi).
ENTRYPOINT ["node", "--max-old-space-size=256", "dist/main.js"]
CMD ["--config", "/etc/flipt-client-operator/config.yaml"]
