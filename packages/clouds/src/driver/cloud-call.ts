/**
 * How a driver makes one call to its cloud: through the cloud's limiter, each attempt with a
 * timeout, retried with jittered exponential backoff while the cloud is throttling or unavailable,
 * honouring `Retry-After`, within a total budget so that no caller waits unboundedly. A call that
 * is not idempotent is retried only when it cannot have taken effect (the connection was refused),
 * never after a timeout or a reset, unless it is idempotent by token.
 */
import { jitteredDelay, RealClock, type Clock, type Logger } from '@defib/platform';
import { CloudError, describeTransportError } from './cloud-error.ts';
import type { CloudLimiter } from './cloud-limiter.ts';
import type { CloudMetrics } from './cloud-metrics.ts';

export interface RetryPolicy {
  /** How long one attempt may take before it is abandoned. */
  readonly attemptTimeoutMs: number;
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** How long all attempts and waits together may take: after it, the last error is thrown. */
  readonly budgetMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attemptTimeoutMs: 15_000, maxAttempts: 8, initialDelayMs: 250, maxDelayMs: 10_000, budgetMs: 60_000 };

export interface CallOptions {
  /** Safe to repeat whatever the first attempt did (reads, reboots, deletes, launches carrying a token). */
  readonly idempotent: boolean;
}

/** Makes calls to one cloud. */
export interface CloudCaller {
  readonly cloud: string;
  /**
   * Runs `attempt` until it succeeds or fails for good. `attempt` gets a signal that aborts at the
   * attempt's timeout; it throws a {@link CloudError} for an answer that is an error, anything
   * else for a failure to get an answer (classified here as `unavailable`).
   */
  call<T>(operation: string, options: CallOptions, attempt: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export interface CloudCallerOptions {
  readonly cloud: string;
  readonly limiter: CloudLimiter;
  readonly policy?: Partial<RetryPolicy>;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Where each request's outcome and duration are counted. */
  readonly metrics?: CloudMetrics;
}

function timeoutError(): Error {
  return new DOMException('the attempt timed out', 'TimeoutError');
}

/** The error `attempt` threw, as a CloudError of this cloud and operation. */
export function asCloudError(error: unknown, cloud: string, operation: string): CloudError {
  if (error instanceof CloudError) return error;
  const { detail, outcomeUnknown } = describeTransportError(error);
  return new CloudError('unavailable', cloud, operation, detail, { outcomeUnknown, cause: error });
}

export function createCloudCaller(options: CloudCallerOptions): CloudCaller {
  const { cloud, limiter } = options;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.policy };
  const clock = options.clock ?? new RealClock();
  const random = options.random ?? Math.random;
  const logger = options.logger?.child({ component: 'cloud-call', cloud });

  const pause = (ms: number) => new Promise<void>((resolve) => clock.schedule(ms, resolve));

  const once = async <T>(operation: string, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    return limiter.run(async () => {
      const timer = clock.schedule(policy.attemptTimeoutMs, () => controller.abort(timeoutError()));
      const startedAt = performance.now();
      const measure = (outcome: Parameters<CloudMetrics['request']>[2]) => options.metrics?.request(cloud, operation, outcome, (performance.now() - startedAt) / 1_000);
      try {
        const answer = await attempt(controller.signal);
        measure('ok');
        return answer;
      } catch (error) {
        // Some clients reject with their own error on abort; say it was the timeout.
        const failure = asCloudError(controller.signal.aborted ? controller.signal.reason : error, cloud, operation);
        measure(failure.kind);
        throw failure;
      } finally {
        timer.cancel();
      }
    });
  };

  return {
    cloud,
    async call(operation, callOptions, attempt) {
      const startedAt = clock.now();
      for (let attemptNumber = 1; ; attemptNumber++) {
        let failure: CloudError;
        try {
          return await once(operation, attempt);
        } catch (error) {
          // `once` throws CloudErrors already; this only narrows the type.
          failure = asCloudError(error, cloud, operation);
        }
        const repeatable = callOptions.idempotent || !failure.outcomeUnknown;
        if (!failure.transient || !repeatable) throw failure;
        const delay = Math.max(failure.retryAfterMs ?? 0, jitteredDelay(policy.initialDelayMs, policy.maxDelayMs, attemptNumber - 1, random));
        const elapsed = clock.now() - startedAt;
        if (attemptNumber >= policy.maxAttempts || elapsed + delay > policy.budgetMs) {
          throw new CloudError(failure.kind, cloud, operation, `${failure.detail} (gave up after ${attemptNumber} attempt${attemptNumber === 1 ? '' : 's'} in ${Math.round(elapsed / 100) / 10} s)`, {
            ...(failure.status === undefined ? {} : { status: failure.status }),
            ...(failure.code === undefined ? {} : { code: failure.code }),
            ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
            outcomeUnknown: failure.outcomeUnknown,
            cause: failure,
          });
        }
        logger?.debug({ operation, attempt: attemptNumber, kind: failure.kind, delayMs: Math.round(delay) }, 'cloud call failed; retrying');
        await pause(delay);
      }
    },
  };
}
