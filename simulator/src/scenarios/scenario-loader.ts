/**
 * Reads a scenario from YAML (or JSON, which is YAML) text and validates it. Every problem names
 * its field (`faults[1].at`) and, where the text has one, its line and column, so that an author
 * can find it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatIssuePath } from '@defib/contracts';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node } from 'yaml';
import type { z } from 'zod';
import { faultKinds } from '../faults/fault-spec.ts';
import { shapeProblem } from '../value-shape.ts';
import { scenarioSchema } from './scenario-schema.ts';
import type { Scenario } from './scenario-schema.ts';

/** One problem with a scenario. */
export interface ScenarioIssue {
  /** `faults[1].target.host`; `''` for the document as a whole. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** A scenario that cannot run, with every problem found. */
export class ScenarioError extends Error {
  readonly issues: readonly ScenarioIssue[];

  constructor(issues: readonly ScenarioIssue[], source = 'scenario') {
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path === '' ? '' : `${issue.path}: `}${issue.message}${issue.line === undefined ? '' : ` (line ${issue.line})`}`)
      .join('; ');
    super(`invalid ${source}: ${summary}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`);
    this.name = 'ScenarioError';
    this.issues = issues;
  }
}

/** Maps a path in the parsed value to where it is written. */
export type Locate = (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;

/** The scenario, and where each of its fields is written (for problems found later, when it runs). */
export interface LoadedScenario {
  readonly scenario: Scenario;
  readonly locate: Locate;
}

/** A scenario is a few levels deep; a value much deeper is not one. */
const MAX_SCENARIO_DEPTH = 32;

/** Parses and validates scenario text; throws a `ScenarioError`. */
export function loadScenario(text: string, source = 'scenario'): LoadedScenario {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { version: '1.2', schema: 'core', customTags: [], merge: false, uniqueKeys: true, strict: true, prettyErrors: false, logLevel: 'error', lineCounter });
  const [problem] = [...document.errors, ...document.warnings];
  if (problem !== undefined) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    throw new ScenarioError([{ path: '', message: problem.code === 'MULTIPLE_DOCS' ? 'a scenario is one YAML document' : problem.message.split('\n')[0] ?? problem.message, line, column: col }], source);
  }
  const recursive = recursiveAlias(document);
  if (recursive !== undefined) {
    const { line, col } = lineCounter.linePos(recursive.offset);
    throw new ScenarioError([{ path: '', message: `the alias *${recursive.name} is inside the node it names, so its value would contain itself`, line, column: col }], source);
  }
  const locate: Locate = (path) => {
    const offset = offsetOf(document, path);
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch {
    throw new ScenarioError([{ path: '', message: 'the document cannot be read (too many aliases?)' }], source);
  }
  return { scenario: validateScenario(value, locate, source), locate };
}

/**
 * Validates a scenario already parsed (a request body); throws a `ScenarioError` whose issues name
 * their fields, with their lines and columns when `locate` knows where the fields are written.
 */
export function validateScenario(value: unknown, locate?: Locate, source = 'scenario'): Scenario {
  if (value === null || value === undefined) throw new ScenarioError([{ path: '', message: 'is empty' }], source);
  // A recursive YAML alias parses to a value that contains itself, and a body can nest thousands
  // of levels deep: the validation and its problem reports below walk the value recursively.
  const shape = shapeProblem(value, MAX_SCENARIO_DEPTH);
  if (shape !== undefined) throw new ScenarioError([{ path: '', message: shape }], source);
  const result = scenarioSchema.safeParse(value, { error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined) });
  if (!result.success) {
    // In the order an author reads the file: by line where known, else by where the field comes in the value.
    const rank = readingOrder(value);
    const issues = issuesOf(result.error.issues, [], locate).sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || rank(a.path) - rank(b.path));
    throw new ScenarioError(issues, source);
  }
  return result.data;
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

/** A problem found outside parsing (a cloud the simulator lacks), located like parse problems. */
export function scenarioIssue(path: readonly PropertyKey[], message: string, locate: Locate | undefined): ScenarioIssue {
  const position = locate?.(path);
  return { path: formatIssuePath(path), message, ...(position ? { line: position.line, column: position.column } : {}) };
}

/**
 * zod issues as scenario issues: one per unknown field (at the field), and for unions the issues
 * of the branch the input was meant for (a fault of a known `kind`, a `between` window).
 */
function issuesOf(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], locate: Locate | undefined): ScenarioIssue[] {
  return issues.flatMap((issue): ScenarioIssue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => scenarioIssue([...path, key], 'unknown field', locate));
    if (issue.code === 'invalid_union') {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        // zod puts the discriminator at the end of the path already.
        return [scenarioIssue(path, `must be one of ${faultKinds.join(', ')}`, locate)];
      }
      const wrongType = (branch: readonly z.core.$ZodIssue[]): boolean => branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0);
      const meant = issue.errors.filter((branch) => !wrongType(branch));
      const [only] = meant;
      if (meant.length === 1 && only !== undefined) return issuesOf(only, path, locate);
      if (meant.length === 0) {
        const inner = issue.errors.flat();
        if (inner.every((branch) => branch.message === 'is required')) return [scenarioIssue(path, 'is required', locate)];
        const expected = inner.flatMap((branch) => (branch.code === 'invalid_type' ? [branch.expected] : []));
        return [scenarioIssue(path, `must be ${[...new Set(expected)].join(' or ')}`, locate)];
      }
    }
    return [scenarioIssue(path, issue.message, locate)];
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

/**
 * The scenario named by `--scenario FILE` (or `--scenario=FILE`) among command-line arguments, or
 * undefined without the flag. A relative FILE is looked up from the working directory, then from
 * `baseDirectory` (where `pnpm --filter ./simulator start` was typed, as pnpm's INIT_CWD says).
 */
export function scenarioFromArguments(args: readonly string[], baseDirectory?: string): LoadedScenario | undefined {
  const index = args.findIndex((arg) => arg === '--scenario' || arg.startsWith('--scenario='));
  if (index < 0) return undefined;
  const flag = args[index] ?? '';
  const file = flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : args[index + 1];
  if (file === undefined || file === '' || file.startsWith('--')) throw new ScenarioError([{ path: '', message: '--scenario needs a file' }], 'arguments');
  const candidates = [resolve(file), ...(baseDirectory === undefined ? [] : [resolve(baseDirectory, file)])];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new ScenarioError([{ path: '', message: `no scenario file at ${candidates.join(' or ')}` }], file);
  return loadScenario(readFileSync(found, 'utf8'), found);
}
