/**
 * Structured JSON logging (pino). Every line carries the service name and, when there is one,
 * the correlation id of the work in progress; known secret-bearing fields are redacted.
 */
import { scrubSecrets } from './http/secrets.ts';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { currentCorrelationId } from './context.ts';

export type { Logger } from 'pino';

/** Field paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'token',
  'authorization',
  'secretAccessKey',
  'credentials',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  '*.secretAccessKey',
  '*.credentials',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'config.databaseUrl',
  'config.amqpUrl',
];

/**
 * Errors are logged as type, message, code and stack only: driver errors carry their client,
 * connection parameters and sometimes the query, none of which belongs in a log line. Message
 * and stack are scrubbed of credentials in URLs and bearer tokens; causes are followed a few
 * levels deep.
 */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: scrubSecrets(String(error)) };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    message: scrubSecrets(error.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(error.stack === undefined ? {} : { stack: scrubSecrets(error.stack) }),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

export interface LoggerOptions {
  service: string;
  level: LevelWithSilent;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      mixin() {
        const correlationId = currentCorrelationId();
        return correlationId === undefined ? {} : { correlationId };
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** Removes user:password from a URL before it is shown anywhere. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
