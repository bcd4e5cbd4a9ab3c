// `npm run image:build`: builds the operator's image without Docker or a registry (see scripts/lib/image.ts):
// local bases from Debian packages and the npm registry's Node binary (cached), then the project's
// Dockerfile with buildah. Prints the tag, the times and the size.
import { readFileSync } from 'node:fs';
import { buildProjectImage, ensureBaseImages, imageSize, missingImageTools, ROOT } from './lib/image.ts';

const missing = missingImageTools();
if (missing.length > 0) {
  console.error(`image: ${missing.join(' and ')} not installed (Debian, as root: apt-get install -y buildah mmdebstrap)`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
const tag = process.argv[2] ?? `localhost/flipt-client-operator:${version}`;
const log = (line: string) => console.log(line);
const { build, runtime } = await ensureBaseImages(log);
log(build.cached ? `image base: ${build.tag} (cached)` : `image base: ${build.tag} built (mmdebstrap ${build.rootfsSeconds}s, buildah ${build.buildSeconds}s)`);
log(runtime.cached ? `image runtime base: ${runtime.tag} (cached)` : `image runtime base: ${runtime.tag} built (buildah ${runtime.buildSeconds}s)`);
const seconds = await buildProjectImage(tag, { build: build.tag, runtime: runtime.tag }, log);
log(`image: ${tag} built in ${seconds}s, ${((await imageSize(tag, log)) / 1e6).toFixed(0)} MB`);
