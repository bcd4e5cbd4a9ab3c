// The logger's second line of defence (log.ts): credentials are scrubbed from every line, whatever logged them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const HEX = 'ab'.repeat(32);
const HEX_2 = 'cd'.repeat(32);
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmbGlwdGNsaWVudDphOmIifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const FINGERPRINT = 'ef'.repeat(8);

/** What createLogger writes to stdout for these lines, from a fresh process (it writes to fd 1). */
function logged(): string {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)};
    const log = createLogger('info');
    log.info({ authorization: 'Bearer opaque-credential', clientToken: 'opaque-client-token', fingerprint: '${FINGERPRINT}' }, 'by field');
    log.warn({ err: 'request failed for ${JWT}' }, 'tokens ${HEX} and ${HEX_2} in text');
    log.warn({ id: 'id_${HEX}', detail: 'a\\t${JWT}' }, 'next line:\\n${HEX_2}');
  `;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
}

test('no credential reaches a log line: token-shaped text anywhere is scrubbed, known credential fields are redacted', () => {
  const output = logged();
  const lines = output.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3, output);
  for (const secret of [HEX, HEX_2, JWT, 'opaque-credential', 'opaque-client-token']) assert.ok(!output.includes(secret), `${secret} in ${output}`);
  assert.equal(lines[0]!.authorization, '[REDACTED]');
  assert.equal(lines[1]!.msg, 'tokens [REDACTED] and [REDACTED] in text');
  assert.equal(lines[1]!.err, 'request failed for [REDACTED]');
  assert.equal(lines[0]!.fingerprint, FINGERPRINT, 'a 16-character fingerprint is not a credential');
  // Right against a letter, '_' or an escaped control character (JSON's \n, \t) in the line as written.
  assert.deepEqual([lines[2]!.id, lines[2]!.detail, lines[2]!.msg], ['id_[REDACTED]', 'a\t[REDACTED]', 'next line:\n[REDACTED]']);
});
