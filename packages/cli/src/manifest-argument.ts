/**
 * The manifest a user names with `defib apply -f FILE`: read and validated here, the way the drill
 * reads its manifests (the contracts' `readManifestFile`), so every problem is printed as
 * `FILE:LINE: field: message` before anything is sent; the registry then checks what only it can
 * (the cloud's images and flavors) and names those problems by field.
 */
import { CliError, EXIT } from './cli-error.ts';
import { readInputFile } from './input-file.ts';

export interface ManifestArgument {
  file: string;
  name: string;
  /** The file's text, sent as it is. */
  text: string;
  contentType: 'application/yaml' | 'application/json';
}

/** Reads and validates `file` (YAML or JSON); a missing file or an invalid manifest is a {@link CliError} (exit 2). */
export async function readManifestArgument(file: string): Promise<ManifestArgument> {
  const text = readInputFile(file);
  // Loaded only here: the contracts (zod schemas) cost most commands nothing.
  const { DocumentError, readManifestFile } = await import('@defib/contracts');
  try {
    const { manifest } = readManifestFile(file);
    return { file, name: manifest.name, text, contentType: text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml' };
  } catch (error) {
    if (!(error instanceof DocumentError)) throw error;
    throw new CliError(
      error.issues.map((issue) => `${file}${issue.line === undefined ? '' : `:${issue.line}`}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`),
      EXIT.badInput,
    );
  }
}
