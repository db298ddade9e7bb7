/**
 * Request/message context carried through async calls, so every log line and every event can
 * name the correlation id of the work it belongs to without threading it through arguments.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface WorkContext {
  /** Correlation id: the incident, the request or the event chain this work belongs to. */
  readonly correlationId: string;
}

const storage = new AsyncLocalStorage<WorkContext>();

/** Runs `work` with `correlationId` (a new one when absent) as the current correlation id. */
export function runWithCorrelation<T>(correlationId: string | undefined, work: () => T): T {
  return storage.run({ correlationId: correlationId ?? randomUUID() }, work);
}

/** The correlation id of the work in progress, if any. */
export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId;
}
