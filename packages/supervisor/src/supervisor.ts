/**
 * Runs every part of Defib as a child process in one terminal: starts them side by side, shows
 * their logs behind their names, reports a part that fails to start (with its own reason) while
 * the others keep running, and stops them all together.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createLogger, type Logger } from '@defib/platform';
import type { LineFormatter } from './log-lines.ts';
import type { Part } from './parts.ts';

export interface SupervisorOptions {
  parts: readonly Part[];
  /** Writes one line of output (the terminal, or a test's buffer). */
  write: (line: string) => void;
  format: LineFormatter;
  /** How long a part may take to stop after SIGTERM before it is killed. */
  stopTimeoutMs: number;
}

type PartState = 'starting' | 'running' | 'failed' | 'exited' | 'stopped';

interface RunningPart {
  part: Part;
  child: ChildProcess;
  state: PartState;
  url?: string;
  /** What the part said before it was listening: the reason, should it fail to start. */
  startupLines: string[];
  exited: Promise<void>;
}

/** What the part itself said went wrong: its fatal log line's error, else its plain output. */
function failureReason(lines: readonly string[]): string {
  const text: string[] = [];
  let logged: string | undefined;
  for (const line of lines) {
    try {
      const record = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (record.level === 'fatal' || record.level === 'error') {
        logged = typeof record.err?.message === 'string' ? `${String(record.msg)}: ${record.err.message}` : String(record.msg);
      }
    } catch {
      const trimmed = line.trim();
      if (trimmed !== '' && !trimmed.startsWith('at ')) text.push(trimmed);
    }
  }
  return logged ?? (text.length > 0 ? text.join(' ') : 'it said nothing');
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal === null ? `exit code ${code}` : `signal ${signal}`;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #logger: Logger;
  readonly #running = new Map<string, RunningPart>();
  #stopping = false;
  #onAllExited: (() => void) | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#logger = createLogger({
      service: 'supervisor',
      level: 'info',
      destination: { write: (chunk: string) => chunk.split('\n').filter((line) => line !== '').forEach((line) => options.write(options.format('supervisor', line))) },
    });
  }

  /** Starts every part; resolves once each has either started listening or failed. */
  async start(): Promise<{ running: string[]; failed: string[] }> {
    const outcomes = await Promise.all(this.#options.parts.map((part) => this.#startPart(part)));
    const running = outcomes.filter((outcome) => outcome.started).map((outcome) => outcome.name);
    const failed = outcomes.filter((outcome) => !outcome.started).map((outcome) => outcome.name);
    if (running.length > 0) this.#logger.info({ running: Object.fromEntries([...this.#running.values()].filter((entry) => entry.url !== undefined).map((entry) => [entry.part.name, entry.url])) }, 'Defib is running; Ctrl-C stops it');
    return { running, failed };
  }

  /** Resolves when no part runs any more without having been asked to stop. */
  allExited(): Promise<void> {
    return new Promise((resolve) => {
      this.#onAllExited = resolve;
      this.#checkAllExited();
    });
  }

  /** Stops every part (SIGTERM, then SIGKILL after the timeout); names those that did not stop cleanly. */
  async stop(): Promise<{ failed: string[] }> {
    this.#stopping = true;
    const live = [...this.#running.values()].filter((entry) => entry.state === 'starting' || entry.state === 'running');
    const failed: string[] = [];
    await Promise.all(
      live.map(async (entry) => {
        entry.child.kill('SIGTERM');
        const timer = setTimeout(() => {
          failed.push(entry.part.name);
          this.#logger.error({ part: entry.part.name, timeoutMs: this.#options.stopTimeoutMs }, `${entry.part.name} did not stop in time; killed`);
          entry.child.kill('SIGKILL');
        }, this.#options.stopTimeoutMs);
        await entry.exited;
        clearTimeout(timer);
        if (entry.child.exitCode !== 0 && !failed.includes(entry.part.name)) failed.push(entry.part.name);
      }),
    );
    const stopped = live.map((entry) => entry.part.name);
    if (failed.length === 0) this.#logger.info({ parts: stopped }, `Defib stopped (${stopped.join(', ') || 'nothing was running'})`);
    else this.#logger.error({ parts: stopped, failed }, `Defib stopped; ${failed.join(', ')} did not stop cleanly`);
    return { failed };
  }

  #startPart(part: Part): Promise<{ name: string; started: boolean }> {
    // Each part inherits the supervisor's environment and reads its settings (and .env) itself.
    const child = spawn(process.execPath, [part.entry], { cwd: part.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry: RunningPart = { part, child, state: 'starting', startupLines: [], exited: once(child, 'exit').then(() => undefined) };
    this.#running.set(part.name, entry);
    return new Promise((resolve) => {
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          this.#options.write(this.#options.format(part.name, line));
          if (entry.state !== 'starting') return;
          entry.startupLines.push(line);
          const url = /"msg":"listening"/.test(line) ? /"url":"([^"]+)"/.exec(line)?.[1] : undefined;
          if (url !== undefined) {
            entry.state = 'running';
            entry.url = url;
            entry.startupLines = [];
            resolve({ name: part.name, started: true });
          }
        });
      }
      child.once('error', (error) => entry.startupLines.push(error.message));
      child.once('exit', (code, signal) => {
        if (entry.state === 'starting' && this.#stopping) {
          entry.state = 'stopped';
          resolve({ name: part.name, started: false });
        } else if (entry.state === 'starting') {
          entry.state = 'failed';
          this.#logger.error({ part: part.name, exit: describeExit(code, signal) }, `${part.name} failed to start (${describeExit(code, signal)}): ${failureReason(entry.startupLines)}; the other parts keep running`);
          resolve({ name: part.name, started: false });
        } else if (entry.state === 'running') {
          entry.state = this.#stopping ? 'stopped' : 'exited';
          if (!this.#stopping) this.#logger.error({ part: part.name, exit: describeExit(code, signal) }, `${part.name} stopped unexpectedly (${describeExit(code, signal)}); the other parts keep running`);
        }
        this.#checkAllExited();
      });
    });
  }

  #checkAllExited(): void {
    if (this.#onAllExited === undefined || this.#stopping) return;
    if ([...this.#running.values()].every((entry) => entry.state === 'failed' || entry.state === 'exited')) this.#onAllExited();
  }
}
