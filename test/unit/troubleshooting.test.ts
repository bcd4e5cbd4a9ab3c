// The README's Troubleshooting section names every condition and Event reason the code can set, so
// whoever reads `kubectl describe fc` finds each one explained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** Reasons of a decision that never reach a condition or an Event (why a token is issued). */
const INTERNAL = new Set(['FirstIssue', 'SecretLost']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

function reasonsInCode(): Set<string> {
  const found = new Set<string>();
  for (const text of sources(join(ROOT, 'src'))) {
    // reason: 'X', and type unions reason: 'X' | 'Y'
    for (const match of text.matchAll(/reason: ('[A-Z]\w+'(?: \| '[A-Z]\w+')*)/g)) {
      for (const literal of match[1]!.matchAll(/'(\w+)'/g)) found.add(literal[1]!);
    }
    // events.record(object, 'Normal' | 'Warning', 'Reason', ...)
    for (const match of text.matchAll(/'(?:Normal|Warning)', '([A-Z]\w+)'/g)) found.add(match[1]!);
    // a Warning Event named differently from its condition reason
    for (const match of text.matchAll(/\? '([A-Z]\w+)' : now\.reason/g)) found.add(match[1]!);
  }
  for (const reason of INTERNAL) found.delete(reason);
  return found;
}

function troubleshootingSection(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Troubleshooting');
  assert.ok(start >= 0, 'README has a Troubleshooting section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

test('README Troubleshooting explains every reason the code can set', () => {
  const reasons = reasonsInCode();
  assert.ok(reasons.size > 30, `found only ${reasons.size} reasons: the scan is broken`);
  for (const known of ['UnknownTarget', 'WorkloadMissing', 'TokenRevoked', 'RotationFailed', 'ConfigChanged']) {
    assert.ok(reasons.has(known), `the scan misses ${known}`);
  }
  const section = troubleshootingSection();
  const missing = [...reasons].filter((reason) => !section.includes(`\`${reason}\``)).sort();
  assert.deepEqual(missing, [], `README Troubleshooting lacks: ${missing.join(', ')}`);
});
