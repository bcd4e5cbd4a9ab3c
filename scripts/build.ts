// Builds dist/main.js, what the image runs: the operator and its dependencies in one ES module, with
// only the code it reaches. Node keeps every loaded module's source text in memory (V8 compiles functions
// lazily from it), and `@kubernetes/client-node` alone loads generated code for every API group of
// Kubernetes: about 20 MiB of source in the heap of an operator run from node_modules. The bundle
// leaves out what is never reached and its whitespace; names are kept, so stack traces stay readable
// (and map back to the sources with NODE_OPTIONS=--enable-source-maps).
import { rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outfile = `${root}dist/main.js`;
rmSync(`${root}dist`, { recursive: true, force: true });
await build({
  entryPoints: [`${root}src/main.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence texts go to main.js.LEGAL.txt: a non-ASCII character in one of them would make V8 keep the
  // whole source as two bytes a character.
  legalComments: 'linked',
  charset: 'ascii',
  sourcemap: 'linked',
  // The CommonJS dependencies in the bundle call require() for Node's own modules.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
console.log(`build: dist/main.js, ${(statSync(outfile).size / 2 ** 20).toFixed(1)} MiB`);
