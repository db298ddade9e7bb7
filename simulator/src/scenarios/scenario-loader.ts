/**
 * Reads a scenario from YAML (or JSON, which is YAML) text and validates it. Every problem names
 * its field (`faults[1].at`) and, where the text has one, its line and column, so that an author
 * can find it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DocumentError, readYamlDocument, validateDocument } from '@defib/contracts';
import type { DocumentIssue, DocumentOptions, Locate } from '@defib/contracts';
import { faultKinds } from '../faults/fault-spec.ts';
import { scenarioSchema } from './scenario-schema.ts';
import type { Scenario } from './scenario-schema.ts';

export type { Locate } from '@defib/contracts';

/** One problem with a scenario. */
export type ScenarioIssue = DocumentIssue;

/** A scenario that cannot run, with every problem found. */
export class ScenarioError extends DocumentError {
  constructor(issues: readonly ScenarioIssue[], source = 'scenario') {
    super(issues, source);
    this.name = 'ScenarioError';
  }
}

/** The scenario, and where each of its fields is written (for problems found later, when it runs). */
export interface LoadedScenario {
  readonly scenario: Scenario;
  readonly locate: Locate;
}

/** A scenario is a few levels deep; a value much deeper is not one. */
const MAX_SCENARIO_DEPTH = 32;

function scenarioOptions(source: string): DocumentOptions {
  return { source, noun: 'scenario', maxDepth: MAX_SCENARIO_DEPTH, unionMessage: () => `must be one of ${faultKinds.join(', ')}` };
}

/** Parses and validates scenario text; throws a `ScenarioError`. */
export function loadScenario(text: string, source = 'scenario'): LoadedScenario {
  const { value, locate } = asScenarioError(() => readYamlDocument(text, scenarioSchema, scenarioOptions(source)));
  return { scenario: value, locate };
}

/**
 * Validates a scenario already parsed (a request body); throws a `ScenarioError` whose issues name
 * their fields, with their lines and columns when `locate` knows where the fields are written.
 */
export function validateScenario(value: unknown, locate?: Locate, source = 'scenario'): Scenario {
  return asScenarioError(() => validateDocument(value, scenarioSchema, { ...scenarioOptions(source), locate }));
}

/** A problem found outside parsing (a cloud the simulator lacks), located like parse problems. */
export { documentIssue as scenarioIssue } from '@defib/contracts';

/** The document's problems as a `ScenarioError`, the error the simulator's callers know. */
function asScenarioError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DocumentError && !(error instanceof ScenarioError)) throw new ScenarioError(error.issues, error.source);
    throw error;
  }
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
