/**
 * The drill's calls to Defib's and the simulator's HTTP APIs: the same calls a user or a script
 * makes, with the drill's admin token. A refusal throws with the service's own problem detail.
 */

export interface ApiCaller {
  call<T>(baseUrl: string, method: string, path: string, body?: unknown, expected?: readonly number[]): Promise<T>;
}

/** A call that was refused or failed, with the service's problem detail. */
export class DrillApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'DrillApiError';
    this.status = status;
  }
}

export function apiCaller(token: string, signal?: AbortSignal): ApiCaller {
  return {
    async call<T>(baseUrl: string, method: string, path: string, body?: unknown, expected: readonly number[] = [200, 201, 202, 204]): Promise<T> {
      const timeout = AbortSignal.timeout(30_000);
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      const text = await response.text();
      if (!expected.includes(response.status)) {
        let detail = text.slice(0, 500);
        try {
          const problem = JSON.parse(text) as { title?: string; detail?: string; issues?: { path: string; message: string }[] };
          detail = [problem.detail ?? problem.title ?? detail, ...(problem.issues ?? []).map((issue) => `${issue.path}: ${issue.message}`)].join('; ');
        } catch {
          // not problem+json: the text as it is
        }
        throw new DrillApiError(response.status, `${method} ${path} answered ${response.status}: ${detail}`);
      }
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
  };
}

/** Every item of a keyset-paged list (`{ items, nextCursor }`). */
export async function allPages<T>(api: ApiCaller, baseUrl: string, path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page: { items: T[]; nextCursor?: string | null } = await api.call(baseUrl, 'GET', `${path}${separator}limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    items.push(...page.items);
    cursor = page.nextCursor ?? null;
  } while (cursor !== null);
  return items;
}
