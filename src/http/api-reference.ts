/**
 * docs/api.md, rendered from the OpenAPI document that the route schemas generate (`npm run docs`
 * writes it; a test renders it again and fails when the file differs, so it cannot drift).
 */
import { RetCode } from '../errors.ts';

interface Schema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Schema }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
}

/** What each code means and the HTTP status it comes with (the numbers are errors.ts's). */
const CODES: [number, string, string][] = [
  [RetCode.OK, 'success', '200'],
  [RetCode.INVALID_JSON, 'the body is not a JSON object', '400'],
  [RetCode.MISSING_PARAMETER, 'a required parameter is missing or empty', '400'],
  [RetCode.AUTH_FAILED, 'authentication failed (app credentials, admin or metrics token)', '401'],
  [
    RetCode.INTERNAL,
    'internal error, or the store is unavailable: nothing was changed, retry; or (503, "the outcome is unknown") the ' +
      'store went away while committing: applied in full or not at all, and safe to retry',
    '500 / 503',
  ],
  [RetCode.INVALID_TOKEN, 'element: invalid token', 'in `result`'],
  [
    RetCode.INVALID_PARAMETER,
    'invalid parameter; also unknown endpoint (404), wrong method (405), conflict (409), body too large (413), and ' +
      'the refusals of the HTTP layer (400, 408, 431)',
    '400 …',
  ],
  [RetCode.SOME_FAILED, 'some elements failed; the valid ones were applied', '200'],
  [RetCode.ALL_FAILED, 'every element failed', '200'],
  [
    RetCode.RATE_LIMITED,
    'rate limited, too many exports at once, or too many failed authentications; see `Retry-After`',
    '429',
  ],
  [RetCode.NO_BINDING, 'element: nothing to unbind or to find', 'in `result`'],
];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');

function typeOf(schema: Schema): string {
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' or ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'any');
  if (type === 'array' && schema.items) return `array of ${typeOf(schema.items)}`;
  return schema.format ? `${type} (${schema.format})` : type;
}

function limitsOf(schema: Schema): string {
  const limits: string[] = [];
  const range = (low: number | undefined, high: number | undefined, unit: string) => {
    if (low !== undefined && high !== undefined) limits.push(`${low}..${high}${unit}`);
    else if (low !== undefined) limits.push(`at least ${low}${unit}`);
    else if (high !== undefined) limits.push(`at most ${high}${unit}`);
  };
  range(schema.minimum, schema.maximum, '');
  range(schema.minLength, schema.maxLength, ' characters');
  range(schema.minItems, schema.maxItems, ' items');
  if (schema.default !== undefined) limits.push(`default ${JSON.stringify(schema.default)}`);
  return limits.join(', ');
}

/** Every field of an object schema, nested ones as `a[].b`, depth first. */
function fields(schema: Schema | undefined, prefix = ''): string[] {
  if (!schema) return [];
  const object = schema.properties ? schema : (schema.anyOf ?? schema.oneOf)?.find((s) => s.properties);
  if (!object?.properties) return [];
  const rows: string[] = [];
  for (const [name, field] of Object.entries(object.properties)) {
    const path = `${prefix}${name}`;
    const required = object.required?.includes(name) ? 'yes' : '';
    rows.push(
      `| \`${path}\` | ${cell(typeOf(field))} | ${required} | ${cell(limitsOf(field))} | ` +
        `${cell(field.description ?? '')} |`,
    );
    const inner = field.type === 'array' ? field.items : field;
    if (inner) rows.push(...fields(inner, field.type === 'array' ? `${path}[].` : `${path}.`));
  }
  return rows;
}

function fieldTable(schema: Schema | undefined): string[] {
  const rows = fields(schema);
  if (rows.length === 0) return [];
  return ['| field | type | required | limits | meaning |', '| --- | --- | --- | --- | --- |', ...rows, ''];
}

function renderOperation(method: string, path: string, op: Operation): string[] {
  const out = [`### ${method.toUpperCase()} \`${path}\``, ''];
  if (op.summary) out.push(op.summary, '');
  if (op.description) out.push(op.description, '');
  const security = (op.security ?? []).flatMap((s) => Object.keys(s));
  const credentials = (scheme: string) =>
    scheme === 'admin'
      ? '`Authorization: Bearer $BINDERY_ADMIN_TOKEN`'
      : "the app's Basic credentials or TPNS signature";
  if (security.length > 0) out.push(`Authentication: ${security.map(credentials).join(' or ')}.`, '');
  const parameters = op.parameters ?? [];
  if (parameters.length > 0) {
    out.push('| parameter | in | type | required | limits | meaning |', '| --- | --- | --- | --- | --- | --- |');
    for (const p of parameters) {
      const schema = p.schema ?? {};
      out.push(
        `| \`${p.name}\` | ${p.in} | ${cell(typeOf(schema))} | ${p.required ? 'yes' : ''} ` +
          `| ${cell(limitsOf(schema))} | ${cell(p.description ?? schema.description ?? '')} |`,
      );
    }
    out.push('');
  }
  for (const [type, body] of Object.entries(op.requestBody?.content ?? {})) {
    out.push(`Request body (\`${type}\`${op.requestBody?.required ? ', required' : ''}):`, '');
    const table = fieldTable(body.schema);
    out.push(...(table.length > 0 ? table : [`${body.schema ? typeOf(body.schema) : 'any'}`, '']));
  }
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    const content = Object.entries(response.content ?? {})[0];
    const schema = content?.[1].schema;
    out.push(
      `Answer ` +
        `${status}${response.description ? `: ${response.description}` : ''}${content ? ` (\`${content[0]}\`)` : ''}`,
      '',
    );
    if (status.startsWith('2')) out.push(...fieldTable(schema));
  }
  return out;
}

export function renderApiReference(spec: OpenApiDocument): string {
  const out = [
    `# ${spec.info.title} API reference (${spec.info.version})`,
    '',
    'Generated from the route schemas by `npm run docs`; the tests render it again and fail when this file differs. ' +
      'The same document is served live as `/openapi.json`, with a browsable page at `/docs`.',
    '',
    spec.info.description ?? '',
    '',
    '## Codes',
    '',
    'Every answer carries `ret_code`/`err_msg` and the same values as `retCode`/`errMsg`. `err_msg` says what was ' +
      'wrong and where. Per-element codes come back in `result`, one string per element, in request order.',
    '',
    '| code | meaning | HTTP |',
    '| --- | --- | --- |',
    ...CODES.map(([code, meaning, http]) => `| ${code} | ${meaning} | ${http} |`),
    '',
    '## Authentication',
    '',
    'TPNS endpoints and `/api/v1`: `Authorization: Basic base64(AccessID:SecretKey)`, or the TPNS signature headers ' +
      '`AccessId`, `TimeStamp` (Unix seconds, within `BINDERY_SIGN_MAX_SKEW_SECONDS` of the server clock) and `Sign` ' +
      '= base64(lowercase hex(HMAC-SHA256(SecretKey, TimeStamp + AccessId + body))). When both are sent, both must ' +
      'verify. The admin API: `Authorization: Bearer $BINDERY_ADMIN_TOKEN`; `/metrics`: `Authorization: Bearer ' +
      '$BINDERY_METRICS_TOKEN` when that is set.',
    '',
  ];
  for (const tag of spec.tags ?? []) {
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => op.tags?.includes(tag.name))
        .map(([method, op]) => ({ path, method, op })),
    );
    if (operations.length === 0) continue;
    out.push(`## ${tag.name}`, '');
    if (tag.description) out.push(tag.description, '');
    for (const { path, method, op } of operations) out.push(...renderOperation(method, path, op));
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
