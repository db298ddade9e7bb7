/**
 * A manifest read from a file (`defib apply -f`, a drill scenario's deployables): parsed as strict
 * YAML and validated, every problem one `DocumentError` naming the file, the field and its line.
 */
import { readFileSync } from 'node:fs';
import type { Locate } from './yaml-document.ts';
import { DocumentError, inReadingOrder, locateIssues, parseYamlDocument } from './yaml-document.ts';
import { validateManifest, type Manifest, type ManifestInput } from './manifest.ts';

/** A manifest as written (what is applied through the registry's API) and as Defib reads it. */
export interface ManifestFile {
  manifest: ManifestInput;
  parsed: Manifest;
}

/** Where a manifest is written: its source, where its fields are, and its path inside a larger document. */
export interface ManifestPlace {
  source: string;
  locate: Locate;
  root: unknown;
  at: readonly PropertyKey[];
}

/** Reads and validates a manifest file; throws a `DocumentError` naming the file, field and line. */
export function readManifestFile(file: string): ManifestFile {
  const { value, locate } = parseYamlDocument(readDocumentText(file), { source: file, noun: 'manifest' });
  return checkManifest(value, { source: file, locate, root: value, at: [] });
}

/** Validates a parsed manifest written at `place`; throws a `DocumentError` with the lines of its problems. */
export function checkManifest(input: unknown, place: ManifestPlace): ManifestFile {
  const result = validateManifest(input);
  if (!result.ok) throw new DocumentError(inReadingOrder(locateIssues(result.issues, place.locate, place.at), place.root), place.source);
  // Validated: the input is a manifest as the user writes it.
  return { manifest: input as ManifestInput, parsed: result.manifest };
}

/** A file's text; a missing or unreadable file is a `DocumentError` saying so. */
export function readDocumentText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read (${code ?? 'unknown error'})`;
    throw new DocumentError([{ path: '', message: problem }], file);
  }
}
