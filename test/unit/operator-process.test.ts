// The test and benchmark helper that starts the operator as a process. The benchmark sets
// FCO_OPERATOR_ENTRY in its own body, which runs after its imports: a helper that read it when its
// module loaded ran the sources while the benchmark reported the build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startOperator } from '../support/operator-process.ts';
import { scratchDir } from '../support/scratch.ts';

test('startOperator runs the entry file and Node flags the environment names when it is called', async () => {
  const entry = join(scratchDir('entry'), 'entry.mjs');
  writeFileSync(entry, 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), execArgv: process.execArgv }));\n');
  const saved = { entry: process.env.FCO_OPERATOR_ENTRY, nodeArgs: process.env.FCO_OPERATOR_NODE_ARGS };
  process.env.FCO_OPERATOR_ENTRY = entry;
  process.env.FCO_OPERATOR_NODE_ARGS = '--max-semi-space-size=4';
  try {
    const operator = startOperator('/config.yaml', '/kubeconfig');
    assert.equal(await operator.exited, 0);
    assert.deepEqual(JSON.parse(operator.output()), {
      argv: [entry, '--config', '/config.yaml', '--kubeconfig', '/kubeconfig'],
      execArgv: ['--max-semi-space-size=4'],
    });
  } finally {
    for (const [name, value] of [['FCO_OPERATOR_ENTRY', saved.entry], ['FCO_OPERATOR_NODE_ARGS', saved.nodeArgs]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});
