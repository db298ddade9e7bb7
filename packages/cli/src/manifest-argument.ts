/**
 * The manifest a user names with `defib apply -f FILE`: read and parsed here only far enough to
 * know the deployable's name and to point at a YAML mistake by line; the registry validates the
 * rest and names every problem, which `defib apply` prints as `FILE: field: message`.
 */
import { parseDocument } from 'yaml';
import { CliError, EXIT } from './cli-error.ts';
import { readInputFile } from './input-file.ts';

export interface ManifestArgument {
  file: string;
  name: string;
  /** The file's text, sent as it is. */
  text: string;
  contentType: 'application/yaml' | 'application/json';
}

/** Reads `file` (YAML or JSON); a missing file, bad YAML or a missing name is a {@link CliError} (exit 2). */
export function readManifestArgument(file: string): ManifestArgument {
  const text = readInputFile(file);
  const document = parseDocument(text);
  const [problem] = document.errors;
  if (problem !== undefined) {
    const line = problem.linePos?.[0].line;
    throw new CliError(`${file}${line === undefined ? '' : `:${line}`}: ${problem.message.split('\n')[0] ?? 'not YAML'}`, EXIT.badInput);
  }
  const value: unknown = document.toJS();
  const name = typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined;
  if (typeof name !== 'string' || name === '') throw new CliError(`${file}: name: is required (the deployable's name, such as wordpress)`, EXIT.badInput);
  return { file, name, text, contentType: text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml' };
}
