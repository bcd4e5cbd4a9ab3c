// The direction of imports in src/: domains -> shared vocabulary -> config, Kubernetes client and
// generic runtime. Two domains never import each other, and the generic runtime imports nothing of
// the operator's own, so it could be lifted out as it is. Within a folder, no two files import each
// other, directly or round a longer circle: each file can be read knowing only what it imports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** What each folder of src/ may import besides itself; top-level files (main.ts, operator.ts, ...) wire everything. */
const ALLOWED: Record<string, readonly string[]> = {
  fliptclient: ['vocabulary', 'config', 'kube', 'runtime', 'util'],
  fliptinstance: ['vocabulary', 'config', 'kube', 'runtime', 'util'],
  exchange: ['vocabulary', 'config', 'kube', 'runtime', 'util'],
  identity: ['vocabulary', 'config', 'kube', 'runtime', 'util'],
  vocabulary: ['config', 'kube', 'util'],
  config: ['util'],
  kube: [],
  runtime: ['kube'],
  util: [],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** The folder of src/ a file belongs to, or '' for a top-level file. */
function folderOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0]! : '';
}

/** Every relative import in the file's text, resolved to a path (type-only imports count: they are arrows too). */
function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)].map((m) => resolve(dirname(file), m[1]!));
}

function violations(files: readonly string[], read: (file: string) => string): string[] {
  const found: string[] = [];
  for (const file of files) {
    const from = folderOf(file);
    if (from === '') continue;
    const allowed = ALLOWED[from];
    if (!allowed) {
      found.push(`${relative(SRC, file)}: folder ${from}/ has no place in the import rules`);
      continue;
    }
    for (const target of importsOf(file, read(file))) {
      const to = folderOf(target);
      if (to === from) continue;
      if (!allowed.includes(to)) found.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from}/ may import only ${allowed.join(', ') || 'nothing'} of the operator's own)`);
    }
  }
  return found;
}

/** Each import circle among the files, as the files round it ('a.ts -> b.ts -> a.ts'). */
function circles(files: readonly string[], read: (file: string) => string): string[] {
  const known = new Set(files);
  const edges = new Map(files.map((file) => [file, importsOf(file, read(file)).filter((target) => known.has(target))]));
  const found: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    const at = path.indexOf(file);
    if (at >= 0) {
      found.push([...path.slice(at), file].map((f) => relative(SRC, f)).join(' -> '));
      return;
    }
    if (done.has(file)) return;
    path.push(file);
    for (const target of edges.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of files) visit(file);
  return found;
}

/** A check run over made-up files of src/ (path -> text), to show what it catches. */
function onFakes(check: (files: readonly string[], read: (file: string) => string) => string[], fakes: Record<string, string>): string[] {
  return check(
    Object.keys(fakes).map((f) => join(SRC, f)),
    (file) => fakes[relative(SRC, file)]!,
  );
}

test('imports in src/ run one way: domains -> vocabulary -> config, kube, runtime', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 20, 'src/ was read');
  assert.deepEqual(violations(files, (file) => readFileSync(file, 'utf8')), []);
});

test("the check sees a domain importing another, and the runtime importing the operator's own", () => {
  const fakes: Record<string, string> = {
    'fliptclient/x.ts': "import { planTarget } from '../fliptinstance/plan.ts';",
    'fliptinstance/x.ts': "import type { Verdict } from '../fliptclient/decisions.ts';",
    'exchange/x.ts': "export { refusal } from '../fliptclient/decisions.ts';",
    'identity/x.ts': "import type { JwtDecision } from '../fliptclient/jwt-decisions.ts';",
    'runtime/x.ts': "import {\n  targetNameOf,\n} from '../vocabulary/fliptclient.ts';",
    'vocabulary/x.ts': "import { TargetReconciler } from '../fliptinstance/reconciler.ts';",
    'kube/x.ts': "import { Informer } from '../runtime/informer.ts';",
  };
  const found = onFakes(violations, fakes);
  assert.equal(found.length, Object.keys(fakes).length, found.join('\n'));
});

test('no import circle between files of src/ (type-only imports count)', () => {
  assert.deepEqual(circles(sourceFiles(SRC), (file) => readFileSync(file, 'utf8')), []);
});

test('the circle check sees two files importing each other, and a longer circle', () => {
  const fakes: Record<string, string> = {
    'fliptclient/a.ts': "import type { B } from './b.ts';",
    'fliptclient/b.ts': "import { A } from './a.ts';",
    'exchange/x.ts': "import { Y } from './y.ts';",
    'exchange/y.ts': "export { Z } from './z.ts';",
    'exchange/z.ts': "import type {\n  X,\n} from './x.ts';",
    'exchange/free.ts': "import { Y } from './y.ts';",
  };
  const found = onFakes(circles, fakes);
  assert.deepEqual(found, ['fliptclient/a.ts -> fliptclient/b.ts -> fliptclient/a.ts', 'exchange/x.ts -> exchange/y.ts -> exchange/z.ts -> exchange/x.ts']);
});
