/**
 * YAML documents Defib reads from files (simulator scenarios, drill scenarios, manifests given to
 * the CLI), validated with a zod schema. Every problem names its field (`faults[1].at`) and, where
 * the text has one, its line and column, so that an author can find it; problems come in the order
 * the author reads the file.
 *
 * The YAML is read strictly: YAML 1.2 core schema, no custom tags, no `<<` merges, one document,
 * unique keys, no alias inside the node it names, a bound on alias expansion.
 */
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node } from 'yaml';
import type { z } from 'zod';
import { contractErrorMap, formatIssuePath, type ContractIssue } from './contract-violation.ts';
import { shapeProblem } from './value-shape.ts';

/** One problem with a document. */
export interface DocumentIssue {
  /** `faults[1].target.host`; `''` for the document as a whole. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * A document that cannot be used, with every problem found. The message names the source (the
 * file) and up to five issues: `invalid drills/x.yaml: faults[0].failAfter: must be … (line 9)`.
 */
export class DocumentError extends Error {
  readonly issues: readonly DocumentIssue[];
  /** The file (or what else the text came from) the issues' lines are in. */
  readonly source: string;

  constructor(issues: readonly DocumentIssue[], source = 'document') {
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path === '' ? '' : `${issue.path}: `}${issue.message}${issue.line === undefined ? '' : ` (line ${issue.line})`}`)
      .join('; ');
    super(`invalid ${source}: ${summary}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`);
    this.name = 'DocumentError';
    this.issues = issues;
    this.source = source;
  }
}

/** Maps a path in the parsed value to where it is written (its closest written ancestor when it is missing). */
export type Locate = (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;

/** How a document is read and checked. */
export interface DocumentOptions {
  /** Where the text comes from, named by every error: a file's path. */
  readonly source: string;
  /** What the document is, for `a <noun> is one YAML document`. */
  readonly noun?: string;
  /** A value nested deeper is refused before validation (which recurses). */
  readonly maxDepth?: number;
  /** The message for a discriminated union's unknown discriminator at `path`; the schema's own message otherwise. */
  readonly unionMessage?: (path: readonly PropertyKey[]) => string;
}

/** The validated value, and where each of its fields is written (for problems found later). */
export interface ReadDocument<T> {
  readonly value: T;
  readonly locate: Locate;
}

/** Defib's documents are a few levels deep; a value much deeper is not one of them. */
const DEFAULT_MAX_DEPTH = 32;

/** Alias dereferences allowed while building the value: a "billion laughs" document is refused. */
const MAX_ALIAS_COUNT = 100;

/** Parses YAML (or JSON) text and validates it with `schema`; throws a `DocumentError`. */
export function readYamlDocument<S extends z.ZodType>(text: string, schema: S, options: DocumentOptions): ReadDocument<z.output<S>> {
  const { value, locate } = parse(text, options);
  return { value: validateDocument(value, schema, { ...options, locate }), locate };
}

/**
 * Parses YAML (or JSON) text into a value not yet validated (for a validator other than a zod
 * schema, whose issues `locateIssues` then places); throws a `DocumentError`.
 */
export function parseYamlDocument(text: string, options: DocumentOptions): ReadDocument<unknown> {
  const parsed = parse(text, options);
  checkShape(parsed.value, options);
  return parsed;
}

/**
 * Validates a value already parsed (a request body, or a parsed document); throws a
 * `DocumentError` whose issues name their fields, with their lines and columns when `locate`
 * knows where the fields are written.
 */
export function validateDocument<S extends z.ZodType>(value: unknown, schema: S, options: DocumentOptions & { readonly locate?: Locate | undefined }): z.output<S> {
  checkShape(value, options);
  const result = schema.safeParse(value, { error: contractErrorMap });
  if (!result.success) throw new DocumentError(inReadingOrder(issuesOf(result.error.issues, [], options), value), options.source);
  return result.data;
}

/** A problem found outside parsing (a name the document refers to that does not exist), located like parse problems. */
export function documentIssue(path: readonly PropertyKey[], message: string, locate: Locate | undefined): DocumentIssue {
  const position = locate?.(path);
  return { path: formatIssuePath(path), message, ...(position ? { line: position.line, column: position.column } : {}) };
}

/**
 * Issues of a validator that names fields by formatted paths (`validateManifest`), located in a
 * document where the validated value sits at `prefix` (`deployables[1].manifest`).
 */
export function locateIssues(issues: readonly ContractIssue[], locate: Locate | undefined, prefix: readonly PropertyKey[] = []): DocumentIssue[] {
  return issues.map((issue) => documentIssue([...prefix, ...issuePathSegments(issue.path)], issue.message, locate));
}

/** The segments of a path as `formatIssuePath` writes it: `metadata["app.io/name"]` → `['metadata', 'app.io/name']`. */
export function issuePathSegments(path: string): PropertyKey[] {
  const segments: PropertyKey[] = [];
  for (const [, name, index, quoted] of path.matchAll(/([^.[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (name !== undefined) segments.push(name);
    else if (index !== undefined) segments.push(Number(index));
    else if (quoted !== undefined) segments.push(JSON.parse(quoted) as string);
  }
  return segments;
}

/**
 * Issues in the order an author reads the file: by line and column where known, else by where the
 * field comes in `value` (the value the issues' paths start from).
 */
export function inReadingOrder(issues: readonly DocumentIssue[], value: unknown): DocumentIssue[] {
  const rank = readingOrder(value);
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || rank(a.path) - rank(b.path));
}

function parse(text: string, options: DocumentOptions): ReadDocument<unknown> {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { version: '1.2', schema: 'core', customTags: [], merge: false, uniqueKeys: true, strict: true, prettyErrors: false, logLevel: 'error', lineCounter });
  const [problem] = [...document.errors, ...document.warnings];
  if (problem !== undefined) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    const message = problem.code === 'MULTIPLE_DOCS' ? `a ${options.noun ?? 'document'} is one YAML document` : (problem.message.split('\n')[0] ?? problem.message);
    throw new DocumentError([{ path: '', message, line, column: col }], options.source);
  }
  const recursive = recursiveAlias(document);
  if (recursive !== undefined) {
    const { line, col } = lineCounter.linePos(recursive.offset);
    throw new DocumentError([{ path: '', message: `the alias *${recursive.name} is inside the node it names, so its value would contain itself`, line, column: col }], options.source);
  }
  const locate: Locate = (path) => {
    const offset = offsetOf(document, path);
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  try {
    return { value: document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), locate };
  } catch {
    throw new DocumentError([{ path: '', message: 'the document cannot be read (too many aliases?)' }], options.source);
  }
}

/**
 * Refuses an empty value, and one the validation and its problem reports would overflow the stack
 * on: a recursive YAML alias parses to a value that contains itself, and a body can nest thousands
 * of levels deep.
 */
function checkShape(value: unknown, options: DocumentOptions): void {
  if (value === null || value === undefined) throw new DocumentError([{ path: '', message: 'is empty' }], options.source);
  const shape = shapeProblem(value, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (shape !== undefined) throw new DocumentError([{ path: '', message: shape }], options.source);
}

/** The first alias written inside the node its anchor names (`a: &a [*a]`), with where it is written. */
function recursiveAlias(document: Document): { name: string; offset: number } | undefined {
  let found: { name: string; offset: number } | undefined;
  visit(document, {
    Alias(_, alias, path) {
      if (!path.some((ancestor) => isNode(ancestor) && ancestor.anchor === alias.source)) return undefined;
      found = { name: alias.source, offset: alias.range?.[0] ?? 0 };
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * The position of each field of a parsed value in reading order (keys stay in the order they were
 * written); a field that is missing ranks with its closest present ancestor.
 */
function readingOrder(value: unknown): (path: string) => number {
  const ranks = new Map<string, number>();
  const visit = (node: unknown, path: readonly PropertyKey[]): void => {
    ranks.set(formatIssuePath(path), ranks.size);
    if (Array.isArray(node)) node.forEach((item: unknown, index) => visit(item, [...path, index]));
    else if (node !== null && typeof node === 'object') for (const [key, inner] of Object.entries(node)) visit(inner, [...path, key]);
  };
  visit(value, []);
  return (path) => {
    for (let candidate = path; ; candidate = candidate.slice(0, Math.max(0, candidate.lastIndexOf('.'), candidate.lastIndexOf('[')))) {
      const rank = ranks.get(candidate);
      if (rank !== undefined) return rank;
      if (candidate === '') return ranks.size;
    }
  };
}

/**
 * zod issues as document issues: one per unknown field (at the field), and for unions the issues
 * of the branch the input was meant for (a fault of a known `kind`, a `between` window).
 */
function issuesOf(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], options: DocumentOptions & { readonly locate?: Locate | undefined }): DocumentIssue[] {
  const { locate } = options;
  return issues.flatMap((issue): DocumentIssue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => documentIssue([...path, key], 'unknown field', locate));
    if (issue.code === 'invalid_union') {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        // zod puts the discriminator at the end of the path already.
        return [documentIssue(path, options.unionMessage?.(path) ?? issue.message, locate)];
      }
      const wrongType = (branch: readonly z.core.$ZodIssue[]): boolean => branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0);
      const meant = issue.errors.filter((branch) => !wrongType(branch));
      const [only] = meant;
      if (meant.length === 1 && only !== undefined) return issuesOf(only, path, options);
      if (meant.length === 0) {
        const inner = issue.errors.flat();
        if (inner.every((branch) => branch.message === 'is required')) return [documentIssue(path, 'is required', locate)];
        const expected = inner.flatMap((branch) => (branch.code === 'invalid_type' ? [branch.expected] : []));
        return [documentIssue(path, `must be ${[...new Set(expected)].join(' or ')}`, locate)];
      }
    }
    return [documentIssue(path, issue.message, locate)];
  });
}

/** Where the value at `path` (or its closest written ancestor) starts; keys point at the key. */
function offsetOf(document: Document, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = document.contents;
  let offset = rangeStart(node);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}
