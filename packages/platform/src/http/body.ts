/**
 * Reads and parses a request body for a route that takes one: checks the media type (415 naming
 * what is accepted), the charset and encoding, enforces the size limit (413) before and while
 * reading, and parses JSON or YAML strictly (400 saying what is wrong and where).
 */
import type { IncomingMessage } from 'node:http';
import { AppError } from './errors.ts';
import { parseJsonBody } from './json.ts';
import { parseYamlBody } from './yaml.ts';

/** The body formats a route may accept. */
export type BodyFormat = 'json' | 'yaml';

/** Media types of each format; the first is the canonical one, used in OpenAPI. */
export const BODY_MEDIA_TYPES: Readonly<Record<BodyFormat, readonly string[]>> = {
  json: ['application/json', 'application/*+json'],
  yaml: ['application/yaml', 'application/x-yaml', 'text/yaml'],
};

export interface BodyOptions {
  limitBytes: number;
  formats: readonly BodyFormat[];
}

/** A body as received: its text and format, and what parsing it gave. */
export interface ReceivedBody {
  readonly value: unknown;
  readonly source: BodySource;
}

/** The text of a body and the format it was parsed as; parsers use it to point at lines. */
export interface BodySource {
  readonly text: string;
  readonly format: BodyFormat;
}

/**
 * The parsed body with its source, or `undefined` when the request has none (so the route's
 * schema can say the body is required). Rejects with an `AppError`. What happens to an unread
 * rest of a refused body is the error responder's decision (see `app.ts`).
 */
export async function readRequestBody(request: IncomingMessage, options: BodyOptions): Promise<ReceivedBody | undefined> {
  if (!hasBody(request)) return undefined;
  const format = negotiateFormat(request.headers['content-type'], options.formats);
  const encoding = request.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw AppError.unsupportedMediaType(`content encoding "${encoding}" is not supported; send the body uncompressed`);
  }
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > options.limitBytes) throw AppError.payloadTooLarge(options.limitBytes);

  const bytes = await receive(request, options.limitBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw AppError.badRequest('request body is not valid UTF-8');
  }
  if (text.trim() === '') return undefined;
  const source: BodySource = { text, format };
  switch (format) {
    case 'json':
      return { value: parseJsonBody(text), source };
    case 'yaml':
      return { value: parseYamlBody(text), source };
  }
}

function hasBody(request: IncomingMessage): boolean {
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const length = request.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** Which accepted format a `Content-Type` header denotes; 415 when none. */
export function negotiateFormat(contentType: string | undefined, accepted: readonly BodyFormat[]): BodyFormat {
  const acceptedTypes = accepted.flatMap((format) => BODY_MEDIA_TYPES[format]).join(', ');
  if (contentType === undefined || contentType.trim() === '') {
    throw AppError.unsupportedMediaType(`a Content-Type header is required; accepted: ${acceptedTypes}`);
  }
  const [rawType = '', ...parameters] = contentType.split(';');
  const mediaType = rawType.trim().toLowerCase();
  const format = formatOf(mediaType);
  if (format === undefined || !accepted.includes(format)) {
    throw AppError.unsupportedMediaType(`content type "${mediaType}" is not accepted here; accepted: ${acceptedTypes}`);
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=', 2).map((part) => part.trim().toLowerCase());
    const charset = value.replace(/^"(.*)"$/, '$1');
    if (name === 'charset' && charset !== 'utf-8' && charset !== 'utf8') {
      throw AppError.unsupportedMediaType(`charset "${charset}" is not supported; send UTF-8`);
    }
  }
  return format;
}

function formatOf(mediaType: string): BodyFormat | undefined {
  if (mediaType === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(mediaType)) return 'json';
  if (BODY_MEDIA_TYPES.yaml.includes(mediaType)) return 'yaml';
  return undefined;
}

/** Collects the body, refusing it as soon as it grows past the limit. */
function receive(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error: AppError | undefined): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
      request.on('error', ignore);
      if (error === undefined) resolve(Buffer.concat(chunks, received));
      else {
        // Keep reading (and dropping) what is left, so the socket is not reset under the answer.
        request.resume();
        reject(error);
      }
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) finish(AppError.payloadTooLarge(limitBytes));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (): void => finish(AppError.badRequest('the request body could not be read'));
    const onAborted = (): void => finish(AppError.badRequest('the request was aborted before its body was received'));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}

/** Late stream errors (the client went away) have nobody left to tell. */
function ignore(): void {}
