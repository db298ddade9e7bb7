/**
 * Talks to one Defib service over its HTTP API with the bearer token, and turns every way that can
 * fail into a {@link CliError}: a problem+json answer becomes its detail (and, for a 400, one line
 * per issue); a service that does not answer is named with its URL and how to start Defib.
 */
import { CliError, EXIT } from './cli-error.ts';
import type { CliSettings, ServiceName } from './settings.ts';

const TIMEOUT_MS = 30_000;

/** How messages name each service. */
const LABELS: Record<ServiceName, string> = { registry: 'registry', recovery: 'recovery service', notifier: 'notifier', monitor: 'monitor' };

export interface ServiceRequest {
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is with `contentType`. */
  raw?: { text: string; contentType: string };
}

export interface ServiceAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Problem {
  title?: string;
  detail?: string;
  status?: number;
  issues?: { path: string; message: string }[];
}

/** How a failed answer reads: the problem's detail, or its title, or the status. */
export function problemLines(service: ServiceName, status: number, problem: Problem | undefined): string[] {
  const summary = problem?.detail ?? problem?.title ?? `the ${LABELS[service]} answered ${status}`;
  const issues = (problem?.issues ?? []).map((issue) => `  ${issue.path}: ${issue.message}`);
  return [`defib: ${summary}`, ...issues];
}

export function exitCodeOf(status: number): number {
  if (status === 404) return EXIT.notFound;
  if (status === 400 || status === 422) return EXIT.badInput;
  return EXIT.failed;
}

/** Raised for an answer outside 2xx; keeps the problem so a command can word it its own way. */
export class ServiceProblem extends CliError {
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(service: ServiceName, status: number, problem: Problem | undefined) {
    super(problemLines(service, status, problem), exitCodeOf(status));
    this.status = status;
    this.problem = problem;
  }
}

export interface ServiceClient {
  readonly service: ServiceName;
  readonly url: string;
  request<T>(method: string, path: string, request?: ServiceRequest): Promise<ServiceAnswer<T>>;
}

function notAnswering(service: ServiceName, url: string, error: unknown): CliError {
  const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
  const how = timedOut ? `did not answer within ${TIMEOUT_MS / 1000} s at` : 'does not answer at';
  return new CliError(`defib: the ${LABELS[service]} ${how} ${url} (is Defib running? ./defib start)`);
}

export function serviceClient(settings: CliSettings, service: ServiceName): ServiceClient {
  const url = settings.urls[service];
  return {
    service,
    url,
    async request<T>(method: string, path: string, request: ServiceRequest = {}): Promise<ServiceAnswer<T>> {
      const target = new URL(`${url}${path}`);
      for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
      const headers: Record<string, string> = { accept: 'application/json' };
      if (settings.token !== undefined) headers.authorization = `Bearer ${settings.token}`;
      let body: string | undefined;
      if (request.raw !== undefined) {
        body = request.raw.text;
        headers['content-type'] = request.raw.contentType;
      } else if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        headers['content-type'] = 'application/json';
      }
      let response: Response;
      let text: string;
      try {
        response = await fetch(target, { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS), ...(body === undefined ? {} : { body }) });
        text = await response.text();
      } catch (error) {
        throw notAnswering(service, url, error);
      }
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new CliError(`defib: the ${LABELS[service]} at ${url} answered ${response.status} with something that is not JSON (is that Defib's ${LABELS[service]}?)`);
      }
      if (response.status === 401) throw new CliError(`defib: the ${LABELS[service]} wants a token: set DEFIB_TOKEN (or token: in ~/.config/defib/config.yaml)`);
      if (response.status === 403) throw new CliError(`defib: the ${LABELS[service]} refused the token: ${(parsed as Problem | undefined)?.detail ?? 'it may not do this'}`);
      if (response.status >= 300) throw new ServiceProblem(service, response.status, parsed as Problem | undefined);
      return { status: response.status, headers: response.headers, body: parsed as T };
    },
  };
}

/** Every item of a paged list (`items` and `nextCursor`, null or absent on the last page). */
export async function allPages<T>(client: ServiceClient, path: string, query: ServiceRequest['query'] = {}): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const { body } = await client.request<{ items: T[]; nextCursor?: string | null }>('GET', path, { query: { ...query, limit: 200, cursor } });
    items.push(...body.items);
    cursor = body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return items;
}
