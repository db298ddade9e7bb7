/**
 * A Keystone v3 session: password authentication scoped to the registration's project (by name
 * and domain name), the token (`X-Subject-Token`) kept and renewed a margin before it expires,
 * and the token's service catalogue. Concurrent callers share one authentication in flight; a
 * token a service refused (401) is dropped so the next call authenticates again.
 */
import type { OpenstackRegistration } from '@defib/contracts';
import type { Clock } from '@defib/platform';
import { z } from 'zod';
import type { CloudCaller } from '../driver/cloud-call.ts';
import { CloudError } from '../driver/cloud-error.ts';
import { catalogSchema, findEndpoint, type ServiceCatalog, type ServiceType } from './keystone-catalog.ts';
import { errorFromAnswer, malformedAnswer } from './openstack-errors.ts';

/** A project-scoped token and what came with it. */
export interface KeystoneToken {
  readonly id: string;
  readonly catalog: ServiceCatalog;
  /** When it expires, on the driver's clock (the lifetime Keystone gave, counted from receipt). */
  readonly expiresAt: number;
  /** When to authenticate again rather than use it. */
  readonly renewAt: number;
}

const tokenBodySchema = z.looseObject({
  token: z.looseObject({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    catalog: catalogSchema.default([]),
  }),
});

/** Longest renewal margin: a token is renewed a minute (or a tenth of its lifetime, if shorter) before it expires. */
const longestRenewMarginMs = 60_000;

/** Keystone's default token lifetime (`[token] expiration`), assumed when a token's expiry cannot be read. */
const defaultLifetimeMs = 3_600_000;

/** The moment to renew a token with `lifetimeMs` left, received at `receivedAt`. */
export function renewalTime(receivedAt: number, lifetimeMs: number): number {
  return receivedAt + lifetimeMs - Math.min(longestRenewMarginMs, lifetimeMs / 10);
}

/** The Keystone v3 base URL (`…/v3`) of an `authUrl` given with or without its version. */
export function identityBase(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

export interface KeystoneSessionOptions {
  readonly cloud: string;
  readonly registration: OpenstackRegistration;
  readonly caller: CloudCaller;
  readonly clock: Clock;
  readonly fetch: typeof fetch;
}

export class KeystoneSession {
  readonly #options: KeystoneSessionOptions;
  #token: KeystoneToken | undefined;
  #inFlight: Promise<KeystoneToken> | undefined;

  constructor(options: KeystoneSessionOptions) {
    this.#options = options;
  }

  /** The secrets no message may carry: the password and the current token. */
  get secrets(): string[] {
    return [this.#options.registration.credentials.password, ...(this.#token ? [this.#token.id] : [])];
  }

  /** A token valid for a while yet: the one kept, or a new one (one authentication for all who ask at once). */
  async token(): Promise<KeystoneToken> {
    const kept = this.#token;
    if (kept && this.#options.clock.now() < kept.renewAt) return kept;
    this.#inFlight ??= this.#authenticate().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** Forgets `tokenId` (a service refused it), so the next call authenticates again. */
  invalidate(tokenId: string): void {
    if (this.#token?.id === tokenId) this.#token = undefined;
  }

  /**
   * The URL of `type` in the registration's region and interface; undefined when the catalogue has
   * no such service (callers decide whether they can do without). A region or interface the
   * catalogue lacks is a `rejected` error naming what it has.
   */
  async endpoint(type: ServiceType, operation: string): Promise<string | undefined> {
    const { registration, cloud } = this.#options;
    const token = await this.token();
    const found = findEndpoint(token.catalog, type, registration.region, registration.interface);
    if ('url' in found) return found.url;
    if ('problem' in found) throw new CloudError('rejected', cloud, operation, found.problem);
    return undefined;
  }

  async #authenticate(): Promise<KeystoneToken> {
    const { cloud, registration, caller, clock } = this.#options;
    const { username, password, project, domain } = registration.credentials;
    const url = `${identityBase(registration.authUrl)}/auth/tokens`;
    const request = 'POST /auth/tokens';
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: username, domain: { name: domain }, password } } },
        scope: { project: { name: project, domain: { name: domain } } },
      },
    });
    const token = await caller.call('authenticate', { idempotent: true }, async (signal) => {
      const response = await this.#options.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body, signal });
      const text = await response.text();
      if (!response.ok) {
        const error = errorFromAnswer({ cloud, operation: 'authenticate', request, status: response.status, retryAfterHeader: response.headers.get('retry-after'), body: text, now: clock.now(), secrets: [password] });
        if (response.status !== 401) throw error;
        throw new CloudError('auth', cloud, 'authenticate', `Keystone refused the credentials of user ${username} in project ${project} (${error.detail})`, { status: 401, ...(error.code === undefined ? {} : { code: error.code }) });
      }
      const id = response.headers.get('x-subject-token');
      if (id === null || id === '') throw malformedAnswer(cloud, 'authenticate', request, 'no X-Subject-Token header');
      let parsed: z.output<typeof tokenBodySchema>;
      try {
        parsed = tokenBodySchema.parse(JSON.parse(text));
      } catch (error) {
        throw malformedAnswer(cloud, 'authenticate', request, error instanceof SyntaxError ? error.message : 'not a Keystone token document', error);
      }
      const receivedAt = clock.now();
      const expires = Date.parse(parsed.token.expires_at);
      const issued = parsed.token.issued_at === undefined ? Number.NaN : Date.parse(parsed.token.issued_at);
      // The lifetime Keystone gave, counted on our clock: immune to a skew between the two clocks.
      // An expiry it did not write legibly is taken as Keystone's default hour; a 401 renews early.
      const lifetimeMs = Number.isNaN(expires) ? defaultLifetimeMs : Math.max(0, expires - (Number.isNaN(issued) ? receivedAt : issued));
      return { id, catalog: parsed.token.catalog, expiresAt: receivedAt + lifetimeMs, renewAt: renewalTime(receivedAt, lifetimeMs) };
    });
    this.#token = token;
    return token;
  }
}
