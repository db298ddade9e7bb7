/**
 * Where connections come from: the registry's `GET /v1/clouds/{name}/connection`, called with a
 * service token. Nothing of the answer — nor the token — ever goes into an error message.
 */
import { cloudConnectionSchema, type CloudConnection } from '@defib/contracts';

/** The registry could not be asked, or did not answer with a connection; a sealed copy may serve meanwhile. */
export class CloudConnectionUnavailable extends Error {
  readonly cloud: string;

  constructor(cloud: string, why: string, cause?: unknown) {
    super(`the connection of cloud ${cloud} could not be fetched from the registry: ${why}`, cause === undefined ? undefined : { cause });
    this.name = 'CloudConnectionUnavailable';
    this.cloud = cloud;
  }
}

/** Gives a cloud's connection. */
export interface CloudConnectionSource {
  /**
   * The connection of cloud `name`; undefined when the registry does not know the cloud. Throws
   * {@link CloudConnectionUnavailable} when it cannot tell.
   */
  fetch(name: string): Promise<CloudConnection | undefined>;
}

export interface RegistryConnectionSourceOptions {
  /** The registry's base URL, e.g. `http://127.0.0.1:7101`. */
  registryUrl: string;
  /** One of the registry's `DEFIB_SERVICE_TOKENS`. */
  serviceToken: string;
  /** Deadline of one request. */
  timeoutMs?: number;
}

export function registryConnectionSource(options: RegistryConnectionSourceOptions): CloudConnectionSource {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return {
    async fetch(name) {
      const url = new URL(`v1/clouds/${encodeURIComponent(name)}/connection`, options.registryUrl.endsWith('/') ? options.registryUrl : `${options.registryUrl}/`);
      let response: Response;
      try {
        response = await fetch(url, { headers: { authorization: `Bearer ${options.serviceToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      } catch (error) {
        const timedOut = error instanceof Error && error.name === 'TimeoutError';
        throw new CloudConnectionUnavailable(name, timedOut ? `no answer within ${timeoutMs} ms` : 'the registry is unreachable', error);
      }
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        const refused = response.status === 401 || response.status === 403;
        throw new CloudConnectionUnavailable(
          name,
          refused
            ? `the registry refused the service token (HTTP ${response.status}); check DEFIB_SERVICE_TOKEN against the registry's DEFIB_SERVICE_TOKENS`
            : `the registry failed (HTTP ${response.status})`,
        );
      }
      const parsed = cloudConnectionSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success || parsed.data.name !== name) throw new CloudConnectionUnavailable(name, 'the registry answered something that is not a connection of this cloud');
      return parsed.data;
    },
  };
}
