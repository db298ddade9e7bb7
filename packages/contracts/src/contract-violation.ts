/**
 * Contract violations: the one error every parser in this package throws when a message, a
 * manifest or a configuration does not match its contract, and the helpers that turn zod issues
 * into `{ path, message }` pairs with paths such as `assemblies[1].dependsOn[0]`.
 *
 * Messages never include the offending value (it may be a secret); only paths, field names and
 * what was expected.
 */
import type { z } from 'zod';

/** One problem found in an input: where it is (`assemblies[0].heartbeat.interval`) and what is wrong. */
export type ContractIssue = {
  /** Location in the input, `a.b[2].c` style; `''` for the input as a whole. */
  path: string;
  message: string;
};

/** A zod issue as the zod core reports it. */
type ZodIssue = z.core.$ZodIssue;

/**
 * Thrown when an input does not satisfy a contract. Carries every issue found, not just the
 * first, so callers can answer with all of them at once (e.g. in a `problem+json` body).
 */
export class ContractViolation extends Error {
  /** What was being checked, e.g. `heartbeat`, `domain event`, `agent config`. */
  readonly contract: string;
  readonly issues: readonly ContractIssue[];

  constructor(contract: string, issues: readonly ContractIssue[]) {
    const summary = issues
      .slice(0, 5)
      .map((issue) => (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`))
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    super(`invalid ${contract}: ${summary}${more}`);
    this.name = 'ContractViolation';
    this.contract = contract;
    this.issues = issues;
  }
}

const identifierKey = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * Formats a zod issue path the way every Defib API reports it: `assemblies[1].dependsOn[0]`,
 * `params.DB_HOST`, `metadata["app.io/name"]` for keys that are not identifiers, `''` for the root.
 */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let formatted = '';
  for (const segment of path) {
    if (typeof segment === 'number') {
      formatted += `[${segment}]`;
    } else if (typeof segment === 'string' && identifierKey.test(segment)) {
      formatted += formatted === '' ? segment : `.${segment}`;
    } else {
      formatted += `[${JSON.stringify(String(segment))}]`;
    }
  }
  return formatted;
}

/**
 * Turns zod issues into contract issues: one `unknown field` issue per unrecognised key (at the
 * key's own path), and for a union of a string and an object, the issues of the branch the input
 * was evidently meant for rather than a bare "Invalid input".
 */
export function toContractIssues(issues: readonly ZodIssue[], prefix: readonly PropertyKey[] = []): ContractIssue[] {
  const result: ContractIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) result.push({ path: formatIssuePath([...path, key]), message: 'unknown field' });
      continue;
    }
    if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      // A bad record key: the key schema's own message says what a key must look like.
      result.push(...toContractIssues(issue.issues, path));
      continue;
    }
    if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options)) {
      result.push({ path: formatIssuePath(path), message: `must be one of ${issue.options.map((option) => JSON.stringify(option)).join(', ')}` });
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const meant = issue.errors.filter((branch) => !branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0));
      const [only] = meant;
      if (meant.length === 1 && only !== undefined) {
        result.push(...toContractIssues(only, path));
        continue;
      }
    }
    result.push({ path: formatIssuePath(path), message: issue.message });
  }
  return result;
}

/**
 * Per-parse error customisation used by every parser here: a missing field reads `is required`
 * instead of zod's "expected string, received undefined". Messages set on a schema still win.
 */
export const contractErrorMap: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/** Result of {@link checkContract}: the parsed value or every issue found. */
export type ContractCheck<T> = { ok: true; value: T } | { ok: false; issues: ContractIssue[] };

/** Validates `input` against `schema`, returning the parsed value or all issues, never throwing. */
export function checkContract<S extends z.ZodType>(schema: S, input: unknown): ContractCheck<z.output<S>> {
  const result = schema.safeParse(input, { error: contractErrorMap });
  return result.success ? { ok: true, value: result.data } : { ok: false, issues: toContractIssues(result.error.issues) };
}

/** Validates `input` against `schema` and returns the parsed value, or throws a {@link ContractViolation}. */
export function parseContract<S extends z.ZodType>(contract: string, schema: S, input: unknown): z.output<S> {
  const result = checkContract(schema, input);
  if (!result.ok) throw new ContractViolation(contract, result.issues);
  return result.value;
}

/**
 * Decodes a message body that may arrive as raw bytes (an AMQP `content` Buffer), a JSON string,
 * or an already-decoded value. Undecodable JSON is a {@link ContractViolation}.
 */
export function decodeJsonBody(contract: string, raw: unknown): unknown {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (raw instanceof Uint8Array) text = new TextDecoder('utf-8', { fatal: false }).decode(raw);
  else return raw;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ContractViolation(contract, [{ path: '', message: 'is not valid JSON' }]);
  }
}
