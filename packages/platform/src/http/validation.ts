/**
 * Request validation issues, named the way the contracts package names every field
 * (`params.name`, `query.limit`, `assemblies[1].dependsOn[0]`), one issue per unknown field.
 * The formatting itself lives in `@defib/contracts`, so HTTP answers and contract violations agree.
 */
import { ContractViolation, contractErrorMap, toContractIssues } from '@defib/contracts';
import { z } from 'zod';
import type { FieldIssue } from './errors.ts';

/** Where in a request a value came from; body fields carry no prefix. */
export type InputLocation = 'body' | 'params' | 'query';

/** Parse options for request input: a missing field reads `is required`. */
export const REQUEST_PARSE_OPTIONS = { error: contractErrorMap } as const;

/**
 * The issues of a failed zod parse, each naming its field under `location`. A problem with the
 * body as a whole is named `body`. Input values never appear in messages, so nothing the client
 * sent (a password, say) is echoed or logged.
 */
export function fieldIssuesFromZod(issues: readonly z.core.$ZodIssue[], location: InputLocation = 'body'): FieldIssue[] {
  // Issues from a parse that did not use REQUEST_PARSE_OPTIONS (a service's own parser) still read the same.
  const uniform = issues.map((issue) =>
    issue.code === 'invalid_type' && issue.message.endsWith('received undefined') ? { ...issue, message: 'is required' } : issue,
  );
  return toContractIssues(uniform, location === 'body' ? [] : [location]).map((issue) => atBody(issue));
}

/** The issues of a contract violation raised while parsing a body. */
export function fieldIssuesFromViolation(violation: ContractViolation): FieldIssue[] {
  return violation.issues.map((issue) => atBody(issue));
}

function atBody(issue: FieldIssue): FieldIssue {
  return issue.path === '' ? { path: 'body', message: issue.message } : issue;
}

export function isZodError(error: unknown): error is z.core.$ZodError {
  return error instanceof z.core.$ZodError;
}

export function isContractViolation(error: unknown): error is ContractViolation {
  return error instanceof ContractViolation;
}
