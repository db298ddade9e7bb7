/**
 * Background work a service runs beside its HTTP server and consumers: a delivery loop, a LISTEN
 * connection, a periodic clean-up, a detector. The kernel starts workers after migrations and the
 * bus, and stops them in reverse order before the database pool closes, so no worker ever sees a
 * table that does not exist yet or a pool that is already gone.
 */
import type { Logger } from './logger.ts';

export interface BackgroundWorker {
  /** Names the worker in logs and start-up errors. */
  readonly name: string;
  /** Begins the work; resolves once it runs (a rejection fails the service's start-up). */
  start(): Promise<void> | void;
  /** Ends the work and waits for what is in flight; the database is still open while it runs. */
  stop(): Promise<void> | void;
}

export interface PeriodicWorkerOptions {
  name: string;
  intervalMs: number;
  /** One round of the work; a failure is logged and the next round comes at the next interval. */
  run(): Promise<void>;
  logger: Logger;
}

/** Runs `run` every `intervalMs` (first after one interval), never two rounds at once. */
export function periodicWorker(options: PeriodicWorkerOptions): BackgroundWorker {
  const logger = options.logger.child({ component: options.name });
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  const tick = () => {
    if (round !== undefined) return;
    round = options
      .run()
      .catch((error: unknown) => logger.warn({ err: error }, `${options.name} failed; trying again in ${options.intervalMs} ms`))
      .finally(() => {
        round = undefined;
      });
  };
  return {
    name: options.name,
    start() {
      timer ??= setInterval(tick, options.intervalMs);
      // A timer alone must not keep a process alive that has nothing else to do.
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await round;
    },
  };
}
