import type { Command } from 'cac';
import { flagKeys } from './serve-config.ts';

/** A JSON Schema (2020-12) of the serve config file, for editors (YAML language servers read it too: put
 * `# yaml-language-server: $schema=socx-config.schema.json` at the top of the file). Built from the serve
 * command's flags, like the keys themselves; `npm run config-schema` rewrites socx-config.schema.json. */
export function configSchema(command: Command): Record<string, unknown> {
  const scalar = { type: ['string', 'number'] };
  const properties: Record<string, unknown> = {};
  for (const [long, flag] of flagKeys(command)) {
    properties[long] = flag.boolean
      ? { type: 'boolean', description: flag.description }
      : flag.repeatable ? { description: flag.description, anyOf: [scalar, { type: 'array', items: scalar }] } : { description: flag.description, ...scalar };
  }
  properties['users-file'] = { type: 'string', description: 'Users file: one user:password or user:$scrypt$… (socx hash-password) a line, # comments' };
  properties.users = {
    type: 'object',
    description: 'user: password, or user: "$scrypt$…" hash from socx hash-password (quote it)',
    additionalProperties: { type: 'string', minLength: 1 },
  };
  properties.rules = {
    type: 'array',
    description: 'Policy rules in order, first match wins: "allow RULE" or "deny RULE"',
    items: { type: 'string', pattern: '^\\s*(allow|deny)(\\s+\\S.*)?$' },
  };
  properties.listeners = {
    type: 'array',
    description: 'Addresses to listen on (the long form of listen); "auth: false" lets clients of that listener in without a login while the others need one',
    items: { anyOf: [scalar, { type: 'object', properties: { address: scalar, auth: { type: 'boolean', description: 'false: no login on this listener (default true: users, when configured, must log in)' }, 'proxy-protocol': { type: 'boolean', description: 'true: connections start with a PROXY protocol header from a load balancer in --proxy-protocol-from' } }, required: ['address'], additionalProperties: false }] },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'socx serve --config',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}
