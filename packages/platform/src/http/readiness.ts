/**
 * Readiness: whether this instance can do its work now (database and broker reachable, not
 * shutting down). Each check runs with a deadline; failures are reported by name with a short
 * reason that never carries the underlying message (it may hold a host name or credentials).
 */
export interface ReadinessCheck {
  readonly name: string;
  /** Resolves when the dependency is usable; rejects (or hangs past the deadline) when not. */
  check(): Promise<void>;
}

export interface CheckOutcome {
  readonly status: 'ok' | 'failed';
  readonly durationMs: number;
  /** Why it failed: `timed out after 2000 ms`, an error code such as `ECONNREFUSED`, or `failed`. */
  readonly reason?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, CheckOutcome>>;
  /** What went wrong, per failed check, for the log only. */
  readonly errors: readonly { name: string; error: unknown }[];
}

export async function runReadinessChecks(checks: readonly ReadinessCheck[], timeoutMs: number): Promise<ReadinessReport> {
  const errors: { name: string; error: unknown }[] = [];
  const outcomes = await Promise.all(
    checks.map(async (check): Promise<[string, CheckOutcome]> => {
      const started = performance.now();
      const elapsed = (): number => Math.round(performance.now() - started);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const result = await Promise.race([Promise.resolve().then(() => check.check()), deadline]);
        if (result === 'timeout') return [check.name, { status: 'failed', durationMs: elapsed(), reason: `timed out after ${timeoutMs} ms` }];
        return [check.name, { status: 'ok', durationMs: elapsed() }];
      } catch (error) {
        errors.push({ name: check.name, error });
        return [check.name, { status: 'failed', durationMs: elapsed(), reason: reasonOf(error) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: outcomes.every(([, outcome]) => outcome.status === 'ok'), checks: Object.fromEntries(outcomes), errors };
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'failed';
}
