// Writes socx-config.schema.json, the JSON Schema of `socx serve --config` files, from the serve command's
// flags. test/ops/schema.test.ts fails when the committed file is out of date.
//
//   node scripts/config-schema.ts
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cac } from 'cac';
import { configSchema } from '../cmd/serve-config-schema.ts';
import { registerServe } from '../cmd/serve.ts';

export const SCHEMA_FILE = path.resolve(import.meta.dirname, '..', 'socx-config.schema.json');

export function currentSchemaText(): string {
  const cli = cac('socx');
  registerServe(cli);
  const serve = cli.commands.find((command) => command.name === 'serve');
  if (!serve) throw new Error('no serve command');
  return `${JSON.stringify(configSchema(serve), null, 2)}\n`;
}

if (import.meta.main) writeFileSync(SCHEMA_FILE, currentSchemaText());
