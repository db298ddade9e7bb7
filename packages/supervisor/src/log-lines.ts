/**
 * How the parts' output reaches the terminal. Parts log JSON lines (pino) that already name
 * their service: when the supervisor's output is not a terminal they pass through untouched, so
 * a log collector still gets JSON. On a terminal each line is pretty-printed on one line behind
 * the part's name. Anything that is not a JSON log line (a configuration error written to
 * stderr, a crash's stack) is shown behind the part's name as it is.
 */
import { prettyFactory } from 'pino-pretty';

export type LineFormatter = (part: string, line: string) => string;

function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && 'level' in parsed ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The formatter for the supervisor's output: `pretty` on a terminal, JSON otherwise. */
export function lineFormatter(options: { pretty: boolean; colorize: boolean; partNames: readonly string[] }): LineFormatter {
  const width = Math.max(...options.partNames.map((name) => name.length), 'supervisor'.length);
  const label = (part: string) => `${part.padEnd(width)} | `;
  if (!options.pretty) {
    return (part, line) => (parseLogLine(line) === undefined ? `${label(part)}${line}` : line);
  }
  const pretty = prettyFactory({ colorize: options.colorize, singleLine: true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' });
  return (part, line) => {
    const record = parseLogLine(line);
    const text = record === undefined ? line : pretty(record).trimEnd();
    return text
      .split('\n')
      .map((row) => `${label(part)}${row}`)
      .join('\n');
  };
}
