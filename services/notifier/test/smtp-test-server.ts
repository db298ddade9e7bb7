/**
 * An in-process SMTP server (smtp-server) whose answers are scripted per recipient: accept,
 * reject for now (4xx) or reject for good (5xx). Accepted messages are parsed with mailparser.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  receivedAt: number;
}

/** What the server says to RCPT TO for a recipient. */
export type SmtpAnswer = 'accept' | { code: number; message: string };

export interface SmtpTestServer {
  url: string;
  mails: ReceivedMail[];
  /** RCPT TO answers per recipient, consumed in order; then `accept`. */
  script(recipient: string, answers: SmtpAnswer[]): void;
  /** Every RCPT TO seen, with the answer given. */
  recipientsSeen: { recipient: string; answer: string }[];
  close(): Promise<void>;
}

export async function startSmtpServer(): Promise<SmtpTestServer> {
  const mails: ReceivedMail[] = [];
  const scripts = new Map<string, SmtpAnswer[]>();
  const recipientsSeen: { recipient: string; answer: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const recipient = address.address.toLowerCase();
      const answer = scripts.get(recipient)?.shift() ?? 'accept';
      recipientsSeen.push({ recipient, answer: answer === 'accept' ? 'accept' : String(answer.code) });
      if (answer === 'accept') {
        callback();
        return;
      }
      callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          mails.push({
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId ?? '',
            receivedAt: Date.now(),
          });
          callback();
        })
        .catch((error: unknown) => callback(error as Error));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    recipientsSeen,
    script(recipient, answers) {
      scripts.set(recipient.toLowerCase(), [...answers]);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
