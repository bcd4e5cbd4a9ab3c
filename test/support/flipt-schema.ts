// Validates a Flipt config (YAML text) against Flipt v2.11.0's published JSON schema in ../shared.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const schemaPath = fileURLToPath(new URL('../../../shared/flipt/flipt.schema.json', import.meta.url));
let validate: ReturnType<Ajv2019['compile']> | undefined;

export function assertValidFliptConfig(yamlText: string): void {
  if (!validate) {
    assert.ok(existsSync(schemaPath), `Flipt's schema is missing at ${schemaPath} (shared/ must sit beside the repository)`);
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    // The file names its draft as http://...# and carries a draft-04 style `id`; Ajv 2019 takes neither.
    delete schema.$schema;
    delete schema.id;
    validate = new Ajv2019({ strict: false, allErrors: true }).compile(schema);
  }
  const ok = validate(parse(yamlText) ?? {});
  assert.ok(ok, `config does not validate against Flipt's schema: ${JSON.stringify(validate.errors)}`);
}
