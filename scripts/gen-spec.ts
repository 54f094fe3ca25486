/**
 * Regenerates the parts of `spec/mooring-v1.md` that have a source in code, between markers
 *
 *   <!-- BEGIN GENERATED <name> -->
 *   ...
 *   <!-- END GENERATED <name> -->
 *
 * - `close-codes`     from `CLOSE_CODES` (schemas/v1/close-codes.ts)
 * - `error-codes`     from `ERROR_CODES` (schemas/v1/error-codes.ts)
 * - `session-params`  from `DEFAULT_PARAMS` (schemas/v1/defaults.ts), meanings from the generated
 *                     schema's property descriptions (schemas/v1/messages.schema.json)
 * - `client-defaults` from `DEFAULT_BACKOFF` and `DEFAULT_HTTP_HEARTBEAT` (schemas/v1/defaults.ts)
 * - `rule-index`      from `spec/rules.json`
 *
 * and gives every rule line its stable anchor, `- <a id="rule-HB-1"></a>**HB-1** (MUST): ...`, which
 * reports and READMEs link to (`ruleAnchor(id)`).
 *
 * `npm run gen:spec` rewrites the document; `spec/spec.test.ts` fails when it is stale
 * (`regenerateSpec(doc) !== doc`). Everything outside the markers is hand-written and left alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLOSE_CODES, type CloseCodeInfo } from '../schemas/v1/close-codes.js';
import { ERROR_CODES, type ErrorCodeInfo } from '../schemas/v1/error-codes.js';
import { DEFAULT_BACKOFF, DEFAULT_HTTP_HEARTBEAT, DEFAULT_PARAMS } from '../schemas/v1/defaults.js';

export const SPEC_PATH = fileURLToPath(new URL('../spec/mooring-v1.md', import.meta.url));
export const RULES_PATH = fileURLToPath(new URL('../spec/rules.json', import.meta.url));
export const SCHEMA_PATH = fileURLToPath(new URL('../schemas/v1/messages.schema.json', import.meta.url));

export interface Rule {
  id: string;
  level: 'MUST' | 'SHOULD' | 'MAY';
  party: 'server' | 'client' | 'both';
  section: string;
  title: string;
  checkedBy: string;
  status: 'active' | 'retired';
  /** The rule's clauses and the cases checking each (server-suite rules; conformance/test/clauses.test.ts). */
  clauses?: { id: string; text: string; cases: string[] }[];
}
export interface RuleRegistry {
  version: string;
  rules: Rule[];
}

/** Inputs of the generator; the defaults read the committed files, a test may pass its own. */
export interface SpecSources {
  rules: RuleRegistry;
  /** The generated JSON Schema (only `definitions.SessionParams.properties[*].description` is read). */
  schema: { definitions: Record<string, { properties?: Record<string, { description?: string }> }> };
}

export function loadSources(): SpecSources {
  return {
    rules: JSON.parse(readFileSync(RULES_PATH, 'utf8')) as RuleRegistry,
    schema: JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SpecSources['schema'],
  };
}

/** The generated blocks, in the order they appear in the document. */
export const GENERATED_BLOCKS = ['session-params', 'client-defaults', 'close-codes', 'error-codes', 'rule-index'] as const;
export type BlockName = (typeof GENERATED_BLOCKS)[number];

const RULE_ID = /\b[A-Z]+-\d+\b/g;

// ---------------------------------------------------------------------------------------------
// Formatting helpers
// ---------------------------------------------------------------------------------------------

function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|').trim();
}

function table(head: string[], rows: string[][]): string {
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** GitHub's heading anchor for a heading text. */
export function anchor(heading: string): string {
  return heading.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

function human(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

function bytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n} (${n / (1024 * 1024)} MiB)`;
  if (n % 1024 === 0) return `${n} (${n / 1024} KiB)`;
  return String(n);
}

/** A default value as the tables show it. */
export function formatDefault(key: string, value: unknown): string {
  if (key === 'rateLimit' && typeof value === 'object' && value !== null) {
    const { messages, windowMs } = value as { messages: number; windowMs: number };
    return `\`{messages: ${messages}, windowMs: ${windowMs}}\` (${messages} per ${human(windowMs)})`;
  }
  if (typeof value === 'number' && key.endsWith('Ms')) return `${value} (${human(value)})`;
  if (typeof value === 'number' && key.endsWith('Bytes')) return bytes(value);
  if (typeof value === 'string') return `\`"${value}"\``;
  if (typeof value === 'number') return String(value);
  return `\`${JSON.stringify(value)}\``;
}

/** Rule ids in registry order. */
function ordered(ids: Iterable<string>, rules: Rule[]): string[] {
  const set = new Set(ids);
  return rules.filter((r) => set.has(r.id)).map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// The blocks
// ---------------------------------------------------------------------------------------------

const CLASS_TEXT: Record<CloseCodeInfo['class'], string> = {
  reconnect: '`reconnect` (back off)',
  reconnect_now: '`reconnect_now` (after the hint)',
  refresh_token: '`refresh_token` (new token, then back off)',
  stop: '`stop` (do not reconnect)',
};

export function renderCloseCodes(): string {
  const rows = (Object.values(CLOSE_CODES) as CloseCodeInfo[])
    .slice()
    .sort((a, b) => a.code - b.code)
    .map((c) => [
      `\`${c.code}\``,
      `\`${c.name}\``,
      c.sentBy === 'none' ? 'never sent (local only)' : c.sentBy,
      CLASS_TEXT[c.class],
      c.meaning,
      c.rules.join(', '),
    ]);
  return table(['Code', 'Name (reason)', 'Sent by', 'Client action class', 'Meaning', 'Rules'], rows);
}

const IN_TEXT: Record<ErrorCodeInfo['in'], string> = {
  error: '`error` message',
  response: 'failed `response`',
  error_or_response: '`error` message or failed `response`',
  client: 'client-side only',
};

export function renderErrorCodes(): string {
  const rows = (Object.values(ERROR_CODES) as ErrorCodeInfo[]).map((e) => [
    `\`${e.code}\``,
    IN_TEXT[e.in],
    e.meaning,
    e.rules.join(', '),
  ]);
  return table(['Code', 'Carried in', 'Meaning', 'Rules'], rows);
}

export function renderSessionParams(src: SpecSources): string {
  const props = src.schema.definitions['SessionParams']?.properties;
  if (!props) throw new Error('messages.schema.json has no SessionParams properties');
  const rules = src.rules.rules.filter((r) => r.status === 'active');
  const defaults = DEFAULT_PARAMS as unknown as Record<string, unknown>;
  const rows = Object.entries(props).map(([key, p]) => {
    const description = p.description ?? '';
    if (!description) throw new Error(`SessionParams.${key} has no description in messages.ts`);
    const cited = description.match(RULE_ID) ?? [];
    const named = rules.filter((r) => r.title.includes(key)).map((r) => r.id);
    const meaning = description.replace(/\s*\((?:[A-Z]+-\d+(?:, )?)+\)/g, '');
    const value = key === 'httpHeartbeat'
      ? `\`{path: "/heartbeat", intervalMs: ${DEFAULT_HTTP_HEARTBEAT.intervalMs}, presenceWindowMs: ${DEFAULT_HTTP_HEARTBEAT.presenceWindowMs}}\``
      : key in defaults ? formatDefault(key, defaults[key]) : 'per session (from the token)';
    return [`\`${key}\``, meaning, value, ordered([...cited, ...named], rules).join(', ')];
  });
  return table(['Parameter', 'Meaning', 'Recommended default', 'Rules'], rows);
}

/** Client-side and HTTP defaults are not session params; their meanings live here. */
const CLIENT_DEFAULTS: Record<string, { meaning: string; rules: string[]; value: number }> = {
  'backoff.baseMs': { value: DEFAULT_BACKOFF.baseMs, meaning: 'Base of the reconnect backoff: d = min(capMs, baseMs · 2^n).', rules: ['RECON-1'] },
  'backoff.capMs': { value: DEFAULT_BACKOFF.capMs, meaning: 'Cap of the reconnect backoff, applied before the jitter.', rules: ['RECON-1'] },
  'backoff.stableAfterMs': { value: DEFAULT_BACKOFF.stableAfterMs, meaning: 'How long a session stays authenticated before the attempt counter resets.', rules: ['RECON-2'] },
  'httpHeartbeat.intervalMs': { value: DEFAULT_HTTP_HEARTBEAT.intervalMs, meaning: 'How often a client posts its HTTP heartbeat.', rules: ['HTTP-4'] },
  'httpHeartbeat.presenceWindowMs': { value: DEFAULT_HTTP_HEARTBEAT.presenceWindowMs, meaning: 'A user is `connected` when its last HTTP heartbeat is younger than this.', rules: ['HTTP-2'] },
};

export function renderClientDefaults(): string {
  const expected = [
    ...Object.keys(DEFAULT_BACKOFF).map((k) => `backoff.${k}`),
    ...Object.keys(DEFAULT_HTTP_HEARTBEAT).map((k) => `httpHeartbeat.${k}`),
  ];
  const missing = expected.filter((k) => !(k in CLIENT_DEFAULTS));
  if (missing.length) throw new Error(`gen-spec: no meaning for ${missing.join(', ')}; add it to CLIENT_DEFAULTS`);
  const rows = expected.map((k) => {
    const d = CLIENT_DEFAULTS[k]!;
    return [`\`${k}\``, d.meaning, formatDefault(k, d.value), d.rules.join(', ')];
  });
  return table(['Setting', 'Meaning', 'Default', 'Rules'], rows);
}

export function renderRuleIndex(src: SpecSources): string {
  const rows = src.rules.rules.map((r) => [
    `**${r.id}**`,
    r.status === 'retired' ? `${r.level} (retired)` : r.level,
    r.party,
    `[${r.section}](#${anchor(r.section)})`,
    r.clauses?.length ? `\`${r.checkedBy}\` (${r.clauses.length} clauses)` : `\`${r.checkedBy}\``,
  ]);
  return table(['Rule', 'Level', 'Party', 'Section', 'Checked by'], rows);
}

export function renderBlock(name: BlockName, src: SpecSources): string {
  switch (name) {
    case 'close-codes': return renderCloseCodes();
    case 'error-codes': return renderErrorCodes();
    case 'session-params': return renderSessionParams(src);
    case 'client-defaults': return renderClientDefaults();
    case 'rule-index': return renderRuleIndex(src);
  }
}

const NOTE = (name: string, source: string) =>
  `<!-- Generated by \`npm run gen:spec\` from ${source}; edit the source, not this table (${name}). -->`;

const SOURCES: Record<BlockName, string> = {
  'close-codes': 'schemas/v1/close-codes.ts',
  'error-codes': 'schemas/v1/error-codes.ts',
  'session-params': 'schemas/v1/defaults.ts and messages.ts',
  'client-defaults': 'schemas/v1/defaults.ts',
  'rule-index': 'spec/rules.json',
};

/** The stable anchor of a rule in spec/mooring-v1.md (`#rule-HB-1`). */
export function ruleAnchor(id: string): string {
  return `rule-${id}`;
}

/** Every rule line `- **ID** (LEVEL): ...` (outside code fences) starts with its anchor, exactly once. */
export function anchorRules(doc: string): string {
  let inCode = false;
  return doc
    .split('\n')
    .map((line) => {
      if (line.startsWith('```')) inCode = !inCode;
      if (inCode) return line;
      return line.replace(/^- (?:<a id="[^"]*"><\/a>)?\*\*([A-Z]+-\d+)\*\* \(/, (_m, id: string) => `- <a id="${ruleAnchor(id)}"></a>**${id}** (`);
    })
    .join('\n');
}

/**
 * Pure: returns `doc` with every generated block replaced by a fresh rendering and every rule line
 * anchored. Throws when a block's
 * markers are missing, duplicated or out of order, so a test notices a deleted table.
 */
export function regenerateSpec(doc: string, src: SpecSources = loadSources()): string {
  let out = doc;
  for (const name of GENERATED_BLOCKS) {
    const begin = `<!-- BEGIN GENERATED ${name} -->`;
    const end = `<!-- END GENERATED ${name} -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < 0 || j < i) throw new Error(`spec: markers for generated block "${name}" missing or out of order`);
    if (out.indexOf(begin, i + 1) >= 0 || out.indexOf(end, j + 1) >= 0) throw new Error(`spec: generated block "${name}" appears twice`);
    const body = `${begin}\n${NOTE(name, SOURCES[name])}\n\n${renderBlock(name, src)}\n\n${end}`;
    out = out.slice(0, i) + body + out.slice(j + end.length);
  }
  return anchorRules(out);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const old = readFileSync(SPEC_PATH, 'utf8');
  const text = regenerateSpec(old);
  if (old === text) {
    console.log(`unchanged: ${SPEC_PATH}`);
  } else {
    writeFileSync(SPEC_PATH, text);
    console.log(`wrote ${SPEC_PATH}`);
  }
}
