/**
 * Runs `pnpm start`'s supervisor as a real process, the way a user runs it (its output not a
 * terminal, so JSON lines), for tests: every part on a free port (`PORT=0`), no settings file
 * unless the test names one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../../test/support/index.ts';
import { processEnvironment } from '@defib/platform';

export interface SupervisorProcess {
  child: ChildProcess;
  /** Every line it wrote to stdout and stderr. */
  output: string[];
  /** The JSON log lines among them. */
  records(): Record<string, unknown>[];
  /** The parts that started, with their URLs, once the supervisor said so. */
  running(timeoutMs?: number): Promise<Record<string, string>>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export function startSupervisorProcess(env: Record<string, string>): SupervisorProcess {
  const child = spawn(process.execPath, [main], {
    env: { PATH: processEnvironment().PATH ?? '', PORT: '0', DEFIB_ENV_FILE: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => output.push(line));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const records = () =>
    output.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    child,
    output,
    records,
    running: (timeoutMs = 60_000) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the supervisor exited with ${child.exitCode}:\n${output.join('\n')}`);
          return records().find((record) => record.service === 'supervisor' && record.running !== undefined)?.running as Record<string, string> | undefined;
        },
        { timeoutMs, intervalMs: 100, what: 'the supervisor to report its running parts' },
      ),
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
