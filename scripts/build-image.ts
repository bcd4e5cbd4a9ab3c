// `npm run image:build`: builds the operator's image without Docker or a registry (see scripts/lib/image.ts):
// a local Node 24 base from Debian packages and the npm registry's Node binary (cached), then the
// project's Dockerfile with buildah. Prints the tag, the times and the size.
import { readFileSync } from 'node:fs';
import { buildProjectImage, ensureBaseImage, imageSize, missingImageTools, ROOT } from './lib/image.ts';

const missing = missingImageTools();
if (missing.length > 0) {
  console.error(`image: ${missing.join(' and ')} not installed (Debian, as root: apt-get install -y buildah mmdebstrap)`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
const tag = process.argv[2] ?? `localhost/flipt-client-operator:${version}`;
const log = (line: string) => console.log(line);
const base = await ensureBaseImage(log);
log(base.cached ? `image base: ${base.tag} (cached)` : `image base: ${base.tag} built (mmdebstrap ${base.rootfsSeconds}s, buildah ${base.buildSeconds}s)`);
const seconds = await buildProjectImage(tag, base.tag, log);
log(`image: ${tag} built in ${seconds}s, ${((await imageSize(tag, log)) / 1e6).toFixed(0)} MB`);
