// Files the tests write (operator configs, kubeconfigs holding service-account tokens, helper binaries)
// go under one directory per process, removed when the process exits: a run leaves nothing in /tmp.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | undefined;

/** A new directory, removed with everything in it when this process exits. */
export function scratchDir(prefix: string): string {
  if (!root) {
    const dir = mkdtempSync(join(tmpdir(), 'fco-test-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    root = dir;
  }
  return mkdtempSync(join(root, `${prefix}-`));
}
