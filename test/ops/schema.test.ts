/** socx-config.schema.json matches the serve command's flags (regenerate: npm run config-schema), and the
 * README's example config follows it. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { currentSchemaText, SCHEMA_FILE } from '../../scripts/config-schema.ts';
import { EXAMPLE } from './example-config.ts';

test('the committed schema is up to date', () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), currentSchemaText(), 'run: npm run config-schema');
});

test('every key of the example config is in the schema, with a value of its type', () => {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as { properties: Record<string, { type?: string }> };
  const example = parse(EXAMPLE) as Record<string, unknown>;
  for (const [key, value] of Object.entries(example)) {
    const property = schema.properties[key];
    assert.ok(property, key);
    if (property.type === 'boolean') assert.equal(typeof value, 'boolean', key);
  }
});

test('the README shows the example config, word for word', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(`\`\`\`yaml\n${EXAMPLE.replace('USERS', '/etc/socx/users')}\`\`\``), 'README "Config file" example differs from test/ops/example-config.ts');
});
