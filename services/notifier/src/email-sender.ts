/**
 * Email through SMTP with nodemailer: a pooled transport with explicit connection, greeting and
 * socket timeouts, so an SMTP server that hangs costs one failed attempt, not a stuck worker. The
 * SMTP URL carries credentials: it is parsed here and never logged.
 */
import nodemailer from 'nodemailer';
import type { SmtpFailure } from './delivery-outcome.ts';
import type { EmailContent } from './notification-content.ts';

export interface Mailer {
  /** Sends one message; resolves with the failure, or `undefined` when the server accepted it. */
  send(to: string, content: EmailContent): Promise<SmtpFailure | undefined>;
  /** The domain Message-IDs are made in (the sender's). */
  readonly messageIdDomain: string;
  close(): void;
}

export interface MailerOptions {
  smtpUrl: string;
  from: string;
  timeoutMs: number;
  maxConnections?: number;
}

/** The domain of `Defib <defib@example.com>` or `defib@example.com`. */
export function domainOf(from: string): string {
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const domain = address.split('@')[1]?.trim();
  return domain === undefined || domain === '' ? 'defib.invalid' : domain;
}

export function createMailer(options: MailerOptions): Mailer {
  const url = new URL(options.smtpUrl);
  const secure = url.protocol === 'smtps:';
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: options.maxConnections ?? 4,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    ...(url.username === '' ? {} : { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    logger: false,
    debug: false,
  });
  const messageIdDomain = domainOf(options.from);
  return {
    messageIdDomain,
    async send(to, content) {
      try {
        await transport.sendMail({ from: options.from, to, subject: content.subject, text: content.text, html: content.html, messageId: content.messageId });
        return undefined;
      } catch (error) {
        const failure = error as { responseCode?: unknown; code?: unknown; command?: unknown };
        return {
          responseCode: typeof failure.responseCode === 'number' ? failure.responseCode : undefined,
          code: typeof failure.code === 'string' ? failure.code : undefined,
          command: typeof failure.command === 'string' ? failure.command : undefined,
        };
      }
    },
    close() {
      transport.close();
    },
  };
}
