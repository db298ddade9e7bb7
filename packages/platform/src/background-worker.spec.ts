import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { periodicWorker } from './background-worker.ts';
import { createLogger } from './logger.ts';

const logger = createLogger({ service: 'worker-spec', level: 'silent' });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

describe('periodic worker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a round every interval, the first one interval after start', async () => {
    let rounds = 0;
    const worker = periodicWorker({ name: 'pruner', intervalMs: 1_000, logger, run: () => Promise.resolve(void (rounds += 1)) });
    await worker.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(rounds).toBe(0);
    await vi.advanceTimersByTimeAsync(2_001);
    expect(rounds).toBe(3);
    await worker.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rounds).toBe(3);
  });

  it('never runs two rounds at once, and stop waits for the round in flight', async () => {
    const release = deferred();
    let rounds = 0;
    let finished = false;
    const worker = periodicWorker({
      name: 'pruner',
      intervalMs: 100,
      logger,
      async run() {
        rounds += 1;
        await release.promise;
        finished = true;
      },
    });
    await worker.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(rounds).toBe(1);
    const stopped = worker.stop();
    release.resolve();
    await stopped;
    expect(finished).toBe(true);
  });

  it('keeps going after a failed round', async () => {
    let rounds = 0;
    const worker = periodicWorker({
      name: 'pruner',
      intervalMs: 100,
      logger,
      run: () => (++rounds === 1 ? Promise.reject(new Error('database away')) : Promise.resolve()),
    });
    await worker.start();
    await vi.advanceTimersByTimeAsync(250);
    expect(rounds).toBe(2);
    await worker.stop();
  });
});
