// What Flipt's config file should say, given what it says now and which tokens the operator manages.
// Pure: text in, text out. Only the operator's own keys change; comments, key order and every other
// setting stay as they were, and an unchanged document comes back byte-for-byte.
import { createHash } from 'node:crypto';
import { isCollection, isMap, isNode, isScalar, isSeq, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import type { CredentialReference } from '../config/operator-config.ts';
import { credentialKey, credentialReference, tokensEqual } from '../vocabulary/credentials.ts';
import type { BooleanSetting, StringSetting } from '../vocabulary/registration.ts';

export interface ManagedToken {
  id: string;
  /** What goes into the config's `credential`: a reference, or the token itself in inline mode. */
  credential: string;
  metadata: Record<string, string>;
}

/** Flipt's `jwt` method as the operator configures it: its JWKS and the claims every JWT must carry. */
export interface JwtMethodSettings {
  jwksUrl: string;
  issuer: string;
  audience: string;
}

export interface RenderInput {
  source: string | undefined;
  /** Ids the operator wrote before (recorded on the ConfigMap). */
  previouslyManaged: readonly string[];
  /**
   * Where the ConfigMap lost its record: the target's credentials Secret. An entry whose credential is
   * exactly what the operator writes for a token this holds under the entry's id is the operator's.
   */
  heldCredentials: Readonly<Record<string, string>>;
  tokens: readonly ManagedToken[];
  credentialReference: CredentialReference;
  /** Enable Flipt's jwt method with these settings. */
  jwtMethod: JwtMethodSettings | undefined;
  /** Remove the jwt method (one the operator wrote, as its record says). */
  removeJwtMethod: boolean;
}

/** Shared by every caller that renders the same input: read it, never change it. */
export interface RenderResult {
  readonly text: string;
  readonly changed: boolean;
  readonly managedIds: readonly string[];
  /** authentication.required as the document says; false means tokens protect nothing. */
  readonly authenticationRequired: BooleanSetting;
  /** secrets.providers.file.base_path as the document says it, or Flipt's default. */
  readonly secretsBasePath: StringSetting;
  /** Ids the operator wanted to write but a hand-written token already uses. */
  readonly conflictingIds: readonly string[];
}

export class FliptConfigError extends Error {}

const TOKENS_PATH = ['authentication', 'methods', 'token', 'storage', 'tokens'];
const JWT_PATH = ['authentication', 'methods', 'jwt'];

/** The authentication methods a config enables that decide whether the operator may add the jwt method. */
export interface AuthenticationMethods {
  /** Flipt refuses to start with both the kubernetes and the jwt method enabled. */
  kubernetesEnabled: BooleanSetting;
  /** The jwt method as the config has it (plain data); undefined where it has none. */
  jwt: unknown;
}

/**
 * Parses Flipt's config, refusing invalid YAML and a key repeated in one mapping (Flipt's YAML reader
 * refuses those too). yaml's own repeated-key check compares each key with every other one of its
 * mapping, quadratic in the tokens a target holds (about a second per step at 2,500); this one is a
 * single pass with a set.
 */
function parseFliptConfig(source: string | undefined): Document {
  const doc = parseDocument(source ?? '', { uniqueKeys: false });
  if (doc.errors.length > 0) throw new FliptConfigError(`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  refuseRepeatedKeys(doc.contents);
  return doc;
}

function refuseRepeatedKeys(node: unknown): void {
  if (isMap(node)) {
    const seen = new Set<unknown>();
    for (const { key, value } of node.items) {
      // Scalars compare by value, as yaml's check does; other keys (rare) only by identity.
      const comparable: unknown = isScalar(key) ? key.value : key;
      if (seen.has(comparable)) throw new FliptConfigError(`not valid YAML: Map keys must be unique (${JSON.stringify(String(comparable))} appears twice in one mapping)`);
      seen.add(comparable);
      refuseRepeatedKeys(key);
      refuseRepeatedKeys(value);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) refuseRepeatedKeys(item);
  }
}

export function authenticationMethodsOf(source: string | undefined): AuthenticationMethods {
  const doc = parseFliptConfig(source);
  const jwt: unknown = doc.getIn(JWT_PATH);
  return { kubernetesEnabled: booleanSetting(doc.getIn(['authentication', 'methods', 'kubernetes', 'enabled'], true)), jwt: isNode(jwt) ? jwt.toJSON() : (jwt ?? undefined) };
}

/** Flipt's pattern for a whole value that names a variable of its environment (internal/config/config.go). */
export const ENV_REFERENCE = /^\$\{env:([a-zA-Z_]+[a-zA-Z0-9_]*)\}$/;

/** A boolean setting as written: Flipt resolves `${env:NAME}` before it reads a string as a boolean. */
function booleanSetting(node: unknown): BooleanSetting {
  const value = isScalar(node) ? node.value : node;
  const reference = typeof value === 'string' ? ENV_REFERENCE.exec(value) : null;
  return reference ? { env: reference[1]! } : trueAsFliptReadsIt(node);
}

/** Where Flipt's file secrets provider reads `${secret:file:<key>}` from when its config does not say (internal/config/secrets.go). */
const DEFAULT_SECRETS_BASE_PATH = '/etc/flipt/secrets';

/** A string setting as written: a `${env:NAME}` reference, the value, or `fallback` where the config has none. */
function stringSetting(node: unknown, fallback: string): StringSetting {
  const value: unknown = isScalar(node) ? node.value : node;
  if (value === undefined || value === null) return fallback;
  const text = String(value);
  const reference = ENV_REFERENCE.exec(text);
  return reference ? { env: reference[1]! } : text;
}

/**
 * A boolean setting as Flipt reads it. viper decodes its config weakly (mapstructure's WeaklyTypedInput):
 * a quoted "true" (as Helm's `quote` writes it), "1" or "t" is true, and so is any non-zero number,
 * which Go's YAML reader sees in more plain scalars than this library does (`1_000`, `0b1`). Other
 * strings are false here: "" is false to Flipt too, and it refuses to start on one strconv.ParseBool does not know.
 */
function trueAsFliptReadsIt(node: unknown): boolean {
  const value = isScalar(node) ? node.value : node;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value !== 'string') return false;
  if (isScalar(node) && node.type === 'PLAIN') {
    const goInteger = /^[-+]?(?:0[bB]([01]+)|0[oO]([0-7]+)|0[xX]([0-9a-fA-F]+)|([0-9]+))$/.exec(value.replaceAll('_', ''));
    if (goInteger) return /[1-9a-fA-F]/.test(goInteger.slice(1).join(''));
  }
  return goParseBool(value) === true;
}

/** Go's strconv.ParseBool, which Flipt's loader applies to a string for a boolean key (its config's or its environment's); undefined where it fails. */
export function goParseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'True', 'TRUE'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'False', 'FALSE'].includes(value)) return false;
  return undefined;
}

/**
 * Recent renders by a digest of their whole input. A target's step renders its config each time the
 * target wakes (its rollout's progress, a resync) and the input rarely changed since: parsing a config
 * of 2,500 tokens takes about 200 ms of CPU and tens of MiB of short-lived heap. A render takes up to
 * two entries (see below): eight cover four targets in one burst; with more, a miss costs what every
 * step cost without this.
 */
const recentRenders = new Map<string, RenderResult>();
const RECENT_RENDERS = 8;

export function renderFliptConfig(input: RenderInput): RenderResult {
  const digest = digestOf(input);
  const recent = recentRenders.get(digest);
  if (recent) {
    remember(digest, recent);
    return recent;
  }
  const result = render(input);
  remember(digest, result);
  // The step after the write of this text renders the same tokens over it, with its managed ids as
  // the ones written before. That render changes nothing, so its answer is known now. Without it,
  // each target's whole config is parsed once more while its restart rolls out, and those parses
  // made the largest part of a burst's heap peak. Only for distinct ids: a repeated id is a
  // conflict the first time and managed the next.
  if (new Set(input.tokens.map((t) => t.id)).size === input.tokens.length) {
    remember(digestOf({ ...input, source: result.text, previouslyManaged: result.managedIds }), { ...result, changed: false });
  }
  return result;
}

function digestOf({ source, previouslyManaged, heldCredentials, tokens, credentialReference, jwtMethod, removeJwtMethod }: RenderInput): string {
  return createHash('sha256')
    .update(JSON.stringify([source ?? null, previouslyManaged, heldCredentials, tokens, credentialReference, jwtMethod ?? null, removeJwtMethod]))
    .digest('base64');
}

/** Most recently used last: the oldest entry is the first to go. */
function remember(digest: string, result: RenderResult): void {
  recentRenders.delete(digest);
  recentRenders.set(digest, result);
  if (recentRenders.size > RECENT_RENDERS) recentRenders.delete(recentRenders.keys().next().value!);
}

function render(input: RenderInput): RenderResult {
  const doc = parseFliptConfig(input.source);
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    doc.contents = doc.createNode({});
  }
  if (!isMap(doc.contents)) throw new FliptConfigError('the document is not a YAML mapping');
  blockIfEmpty(doc.contents);

  let changed = false;
  if (input.jwtMethod) {
    const { jwksUrl, issuer, audience } = input.jwtMethod;
    changed = setScalar(doc, [...JWT_PATH, 'enabled'], true) || changed;
    changed = setScalar(doc, [...JWT_PATH, 'jwks_url'], jwksUrl) || changed;
    changed = setScalar(doc, [...JWT_PATH, 'validate_claims', 'issuer'], issuer) || changed;
    const audiences = [...JWT_PATH, 'validate_claims', 'audiences'];
    const current: unknown = doc.getIn(audiences, true);
    if (JSON.stringify(isCollection(current) ? current.toJSON() : current) !== JSON.stringify([audience])) {
      const list = doc.createNode([audience]);
      for (const item of list.items) quoteNumberLike(item);
      doc.setIn(audiences, list);
      changed = true;
    }
  } else if (input.removeJwtMethod && doc.hasIn(JWT_PATH)) {
    doc.deleteIn(JWT_PATH);
    changed = true;
  }

  const managedIds: string[] = [];
  const conflictingIds: string[] = [];
  // With JWTs and no static token to keep, the token method is left as the config has it.
  if (!input.jwtMethod || input.tokens.length > 0 || input.previouslyManaged.length > 0) {
    changed = renderTokens(doc, input, managedIds, conflictingIds) || changed;
  }
  const authenticationRequired = booleanSetting(doc.getIn(['authentication', 'required'], true));
  const secretsBasePath = stringSetting(doc.getIn(['secrets', 'providers', 'file', 'base_path'], true), DEFAULT_SECRETS_BASE_PATH);
  managedIds.sort();
  return {
    text: changed ? doc.toString({ lineWidth: 0 }) : (input.source ?? ''),
    changed,
    managedIds,
    authenticationRequired,
    secretsBasePath,
    conflictingIds,
  };
}

/** The token method and the operator's static tokens; fills managedIds and conflictingIds; whether it changed the document. */
function renderTokens(doc: Document, input: RenderInput, managedIds: string[], conflictingIds: string[]): boolean {
  let changed = setScalar(doc, ['authentication', 'methods', 'token', 'enabled'], true);
  changed = setScalar(doc, ['authentication', 'methods', 'token', 'storage', 'type'], 'static') || changed;
  if (input.credentialReference === 'secretFile') changed = setScalar(doc, ['secrets', 'providers', 'file', 'enabled'], true) || changed;

  const wanted = new Map(input.tokens.map((t) => [t.id, t]));
  const previously = new Set(input.previouslyManaged);
  // An entry the record does not name is still the operator's when its credential is exactly what the
  // operator writes under its id: a reference to a key only the operator fills in its credentials
  // Secret, or in inline mode the token itself. Its record was lost (the ConfigMap applied again with
  // its text but not its annotations). Taken for a hand-written token, its client would be
  // unregistered, and a client deleted meanwhile would leave a reference to a credential the operator
  // then drops, which Flipt refuses to start on.
  const ours = (id: string, pair: Pair) => previously.has(id) || refersToHeld(pair, id, input);
  ensureMaps(doc, TOKENS_PATH);
  const tokensNode = doc.getIn(TOKENS_PATH) as YAMLMap;

  // The map's own lookups are linear: with thousands of tokens, one index keeps a render linear too.
  const removed = tokensNode.items.filter((pair) => {
    const id = keyOf(pair.key);
    return id !== undefined && !wanted.has(id) && ours(id, pair as Pair);
  });
  if (removed.length > 0) {
    const drop = new Set(removed);
    tokensNode.items = tokensNode.items.filter((pair) => !drop.has(pair));
    changed = true;
  }
  const pairs = new Map<string, Pair>();
  for (const pair of tokensNode.items) {
    const id = keyOf(pair.key);
    if (id !== undefined) pairs.set(id, pair as Pair);
  }
  // A repeated id in one render is a conflict with itself, never two tokens under one entry.
  const added = new Set<string>();
  for (const token of input.tokens) {
    const existing = pairs.get(token.id);
    if (existing && (added.has(token.id) || !(ours(token.id, existing) || carries(existing, token.credential)))) {
      conflictingIds.push(token.id);
      continue;
    }
    managedIds.push(token.id);
    const desired = { credential: token.credential, metadata: sortedRecord(token.metadata) };
    if (existing && holds(existing, desired)) continue;
    const node = doc.createNode(desired) as YAMLMap;
    quoteNumberLike(node.get('credential', true));
    const metadataNode: unknown = node.get('metadata', true);
    if (isMap(metadataNode)) {
      for (const pair of metadataNode.items) {
        quoteNumberLike(pair.key);
        quoteNumberLike(pair.value);
        quoteBeyondAscii(pair.value);
      }
    }
    if (existing) {
      existing.value = node;
    } else {
      const key = doc.createNode(token.id);
      quoteNumberLike(key);
      const pair = doc.createPair(key, node);
      tokensNode.items.push(pair);
      pairs.set(token.id, pair);
      added.add(token.id);
    }
    changed = true;
  }
  return changed;
}

/** Whether a token's entry already says this; the credential (the token itself in inline mode) compared in constant time. */
function holds(pair: Pair, desired: { credential: string; metadata: Record<string, string> }): boolean {
  const value = entryOf(pair);
  if (!value) return false;
  const { credential, ...rest } = value;
  return typeof credential === 'string' && tokensEqual(credential, desired.credential) && JSON.stringify(rest) === JSON.stringify({ metadata: desired.metadata });
}

type HeldCredentials = Pick<RenderInput, 'credentialReference' | 'heldCredentials'>;

/**
 * The ids of the config's token entries that refer, as the operator writes it, to a token the
 * credentials Secret holds under that id: what the operator registered there, read without its record.
 */
export function idsReferringToHeld(source: string | undefined, held: HeldCredentials): string[] {
  const tokens: unknown = parseFliptConfig(source).getIn(TOKENS_PATH, true);
  if (!isMap(tokens)) return [];
  return tokens.items.flatMap((pair) => {
    const id = keyOf(pair.key);
    return id !== undefined && refersToHeld(pair as Pair, id, held) ? [id] : [];
  });
}

/** The metadata the config holds for each of these token ids (string values only, as the operator writes them). */
export function metadataOfTokens(source: string | undefined, ids: ReadonlySet<string>): Map<string, Record<string, string>> {
  const result = new Map<string, Record<string, string>>();
  const tokens: unknown = parseFliptConfig(source).getIn(TOKENS_PATH, true);
  if (!isMap(tokens)) return result;
  for (const pair of tokens.items) {
    const id = keyOf(pair.key);
    const metadata = id !== undefined && ids.has(id) ? entryOf(pair as Pair)?.metadata : undefined;
    if (typeof metadata !== 'object' || metadata === null) continue;
    result.set(id!, Object.fromEntries(Object.entries(metadata).filter((e): e is [string, string] => typeof e[1] === 'string')));
  }
  return result;
}

/** Whether the entry has exactly this credential (compared in constant time). */
function carries(pair: Pair, credential: string): boolean {
  const written = entryOf(pair)?.credential;
  return typeof written === 'string' && tokensEqual(written, credential);
}

/** Whether the entry refers to the token the credentials Secret holds under its id, as the operator writes it. */
function refersToHeld(pair: Pair, id: string, input: HeldCredentials): boolean {
  const held = input.heldCredentials[credentialKey(input, id)];
  return held !== undefined && carries(pair, credentialReference(input, id, held));
}

function entryOf(pair: Pair): Record<string, unknown> | undefined {
  const value: unknown = isNode(pair.value) ? pair.value.toJSON() : pair.value;
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/**
 * Sets a scalar, making mappings along the path; whether the document changed. Strict: a "true" that
 * Flipt already reads as true is still written as the boolean its schema asks for.
 */
function setScalar(doc: Document, path: string[], value: string | boolean): boolean {
  if (doc.getIn(path) === value) return false;
  ensureMaps(doc, path.slice(0, -1));
  // Setting the value (not a new node) keeps a comment on the line.
  doc.setIn(path, value);
  quoteNumberLike(doc.getIn(path, true));
  return true;
}

/** A mapping key as the string it is (ids are strings; a key that is not a scalar is no id of ours). */
function keyOf(key: unknown): string | undefined {
  const value = isScalar(key) ? key.value : key;
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** Makes every collection along the path a mapping, replacing an empty (`null`) value with `{}`. */
function ensureMaps(doc: Document, path: string[]): void {
  for (let i = 1; i <= path.length; i++) {
    const prefix = path.slice(0, i);
    const node = doc.getIn(prefix, true);
    if (node === undefined || (isScalar(node) && (node.value === null || node.value === ''))) {
      doc.setIn(prefix, doc.createNode({}));
    } else if (!isMap(node)) {
      throw new FliptConfigError(`${prefix.join('.')} is not a mapping`);
    } else {
      blockIfEmpty(node);
    }
  }
}

/**
 * An empty flow mapping (`tokens: {}`, or a whole document `{}`) that the operator fills is written in
 * block style, one token per line, instead of growing into a single ever longer line. It still prints
 * as `{}` while empty, and a non-empty flow mapping someone wrote stays as written.
 */
function blockIfEmpty(node: YAMLMap): void {
  if (node.flow && node.items.length === 0) node.flow = false;
}

/**
 * Flipt reads its config with viper and Go's yaml.v3, which reads more plain scalars as numbers than
 * YAML 1.2 (and this library) does: it strips '_' from digits and knows 0b/0o/0x and uint64, so a
 * plain `1_000` or `0b101` would reach Flipt as a number (and `123_456` as a token id would become
 * `123456`). A string the operator writes that starts like a number is therefore double-quoted.
 */
function quoteNumberLike(node: unknown): void {
  if (isScalar(node) && typeof node.value === 'string' && /^[-+.0-9]/.test(node.value)) node.type = 'QUOTE_DOUBLE';
}

/**
 * Go's YAML reader treats a few Unicode characters as line breaks where this library does not (U+0085,
 * U+2028, U+2029). The operator refuses them in metadata; as a second line of defence every string
 * with a character outside printable ASCII is written double-quoted, where the reader keeps it as it is.
 */
function quoteBeyondAscii(node: unknown): void {
  if (isScalar(node) && typeof node.value === 'string' && /[^\x20-\x7e]/.test(node.value)) node.type = 'QUOTE_DOUBLE';
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  // Code-unit order, not locale order: the rendered text must not change with the runtime's ICU data.
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
