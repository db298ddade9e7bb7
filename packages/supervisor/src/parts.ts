/**
 * The parts of Defib this checkout holds: every `services/<name>` with an entry point, then the
 * simulator. Discovered rather than listed, so a service added later (monitor, recovery) is
 * started by `pnpm start` as soon as its `src/main.ts` exists.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** One part the supervisor runs as a child process. */
export interface Part {
  /** `registry`, `notifier`, `simulator` …: prefixes its log lines. */
  name: string;
  /** Its workspace directory; the child runs there, as `pnpm --filter ./<dir> start` would. */
  dir: string;
  /** Its `src/main.ts`. */
  entry: string;
}

function partAt(root: string, relativeDir: string, name: string): Part | undefined {
  const dir = join(root, relativeDir);
  const entry = join(dir, 'src', 'main.ts');
  return existsSync(entry) ? { name, dir, entry } : undefined;
}

/** The services (in name order), then the simulator; only those whose entry point exists. */
export function discoverParts(root: string): Part[] {
  const servicesDir = join(root, 'services');
  const services = existsSync(servicesDir)
    ? readdirSync(servicesDir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort()
        .map((name) => partAt(root, join('services', name), name))
    : [];
  return [...services, partAt(root, 'simulator', 'simulator')].filter((part): part is Part => part !== undefined);
}
