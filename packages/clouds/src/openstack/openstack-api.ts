/**
 * One HTTP request to an OpenStack service, the way every driver operation makes it: the
 * service's URL from the catalogue, the session's token, Nova's microversion, one
 * `caller.call` per request (so the limiter counts requests, and the caller's timeout, retries and
 * budget apply), errors read into {@link CloudError}s, and one new authentication when a service
 * answers 401 (a token revoked or expired early); a second 401 is an `auth` error.
 */
import type { Clock } from '@defib/platform';
import type { z } from 'zod';
import type { CloudCaller } from '../driver/cloud-call.ts';
import { CloudError } from '../driver/cloud-error.ts';
import type { ServiceType } from './keystone-catalog.ts';
import type { KeystoneSession } from './keystone-session.ts';
import { errorFromAnswer, malformedAnswer } from './openstack-errors.ts';

/**
 * The Nova microversion every compute request asks for. 2.52 is the lowest that takes `tags` on
 * create, which is how `list` finds Defib's servers with one filtered query (`tags=defib`, from
 * 2.26); it also makes `networks` required on create (from 2.37), so the driver always says which
 * network a VM joins instead of letting Nova guess. Everything else the driver reads (status,
 * `OS-EXT-STS:task_state`, addresses, `OS-EXT-AZ`, metadata, `changes-since`, paging) is in 2.1.
 * Nova has served 2.52 since Pike (2017), so Zed (up to 2.93) and anything since speak it.
 */
export const novaMicroversion = '2.52';

/** Query parameters; undefined ones are left out. */
export type Query = Readonly<Record<string, string | undefined>>;

export interface ApiRequest {
  readonly service: ServiceType;
  /** The driver operation this request serves, for the error message (`launch`, `list`). */
  readonly operation: string;
  readonly method?: 'GET' | 'POST' | 'DELETE';
  /** Below the service's catalogue URL: `/servers/detail`, `/v2/images`. */
  readonly path: string;
  readonly query?: Query;
  readonly body?: unknown;
  readonly idempotent: boolean;
  /** Statuses that count as done although they are errors (404 on delete). */
  readonly accept?: readonly number[];
  /**
   * Whether an error answer (500, 502, 504) may hide a request that took effect: true for a
   * create, whose retry is the driver's own lookup-then-create, never a blind repeat.
   */
  readonly effectUnknownOnServerError?: boolean;
}

export interface ApiAnswer {
  readonly status: number;
  /** The parsed JSON body; undefined for an empty one (204, 202 without body). */
  readonly body: unknown;
}

export interface OpenstackApiOptions {
  readonly cloud: string;
  readonly session: KeystoneSession;
  readonly caller: CloudCaller;
  readonly clock: Clock;
  readonly fetch: typeof fetch;
}

function withQuery(url: string, query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, value);
  const search = params.toString();
  return search === '' ? url : `${url}?${search}`;
}

/**
 * The URL the driver's paths (`/v2/images`, `/v2.0/networks`) are relative to: Glance and Neutron
 * are catalogued with or without their API version, so a version at the end is dropped; Nova's
 * URL already names its version (and perhaps the project) and is taken as it is.
 */
export function serviceRoot(service: ServiceType, catalogueUrl: string): string {
  switch (service) {
    case 'compute':
      return catalogueUrl;
    case 'image':
      return catalogueUrl.replace(/\/v2(\.\d+)?$/, '');
    case 'network':
      return catalogueUrl.replace(/\/v2\.0$/, '');
  }
}

export class OpenstackApi {
  readonly #options: OpenstackApiOptions;

  constructor(options: OpenstackApiOptions) {
    this.#options = options;
  }

  get session(): KeystoneSession {
    return this.#options.session;
  }

  /** Whether the catalogue has `service` in the registration's region (Neutron may be missing). */
  async has(service: ServiceType, operation: string): Promise<boolean> {
    return (await this.#options.session.endpoint(service, operation)) !== undefined;
  }

  /** Makes `request`, authenticating again once if the service refuses the token. */
  async send(request: ApiRequest): Promise<ApiAnswer> {
    const { session, cloud } = this.#options;
    const base = await session.endpoint(request.service, request.operation);
    if (base === undefined) throw new CloudError('rejected', cloud, request.operation, `the service catalogue has no ${request.service} service`);
    const url = withQuery(`${serviceRoot(request.service, base)}${request.path}`, request.query);
    const token = await session.token();
    try {
      return await this.#once(request, url, token.id);
    } catch (error) {
      if (!(error instanceof CloudError) || error.status !== 401) throw error;
      session.invalidate(token.id);
    }
    const renewed = await session.token();
    try {
      return await this.#once(request, url, renewed.id);
    } catch (error) {
      if (!(error instanceof CloudError) || error.status !== 401) throw error;
      throw new CloudError('auth', cloud, request.operation, `the ${request.service} service refused a fresh token (${error.detail})`, { status: 401, cause: error });
    }
  }

  /** Makes `request` and reads its answer with `schema`; an answer of another shape is `unavailable`. */
  async read<S extends z.ZodType>(schema: S, request: ApiRequest): Promise<z.output<S>> {
    const answer = await this.send(request);
    const parsed = schema.safeParse(answer.body);
    if (parsed.success) return parsed.data;
    const [issue] = parsed.error.issues;
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw malformedAnswer(this.#options.cloud, request.operation, `${request.method ?? 'GET'} ${request.path}`, `not the document expected: ${where}${issue?.message ?? 'invalid'}`);
  }

  #once(request: ApiRequest, url: string, token: string): Promise<ApiAnswer> {
    const { caller, cloud, clock, session } = this.#options;
    const method = request.method ?? 'GET';
    const described = `${method} ${request.path}`;
    const headers: Record<string, string> = { Accept: 'application/json', 'X-Auth-Token': token };
    if (request.body !== undefined) headers['Content-Type'] = 'application/json';
    if (request.service === 'compute') {
      headers['OpenStack-API-Version'] = `compute ${novaMicroversion}`;
      headers['X-OpenStack-Nova-API-Version'] = novaMicroversion;
    }
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    return caller.call(request.operation, { idempotent: request.idempotent }, async (signal) => {
      const response = await this.#options.fetch(url, { method, headers, signal, ...(body === undefined ? {} : { body }) });
      const text = await response.text();
      if (request.accept?.includes(response.status)) return { status: response.status, body: undefined };
      if (!response.ok) {
        const status = response.status;
        throw errorFromAnswer({
          cloud,
          operation: request.operation,
          request: described,
          status,
          retryAfterHeader: response.headers.get('retry-after'),
          body: text,
          now: clock.now(),
          secrets: [...session.secrets, token],
          outcomeUnknown: request.effectUnknownOnServerError === true && status >= 500 && status !== 503,
        });
      }
      if (text.trim() === '') return { status: response.status, body: undefined };
      try {
        return { status: response.status, body: JSON.parse(text) as unknown };
      } catch (error) {
        throw malformedAnswer(cloud, request.operation, described, `${(error as Error).message}; ${text.length} bytes`, error);
      }
    });
  }
}
