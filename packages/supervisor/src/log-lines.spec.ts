import { describe, expect, it } from 'vitest';
import { lineFormatter } from './log-lines.ts';

const logLine = JSON.stringify({ level: 'info', time: '2026-12-01T19:14:16.048Z', service: 'registry', url: 'http://127.0.0.1:7101', msg: 'listening' });

describe('the parts’ log lines', () => {
  it('pass through as JSON when the output is not a terminal; other output is shown behind the part’s name', () => {
    const format = lineFormatter({ pretty: false, colorize: false, partNames: ['registry', 'simulator'] });
    expect(format('registry', logLine)).toBe(logLine);
    expect(format('simulator', 'invalid configuration:')).toBe('simulator  | invalid configuration:');
  });

  it('are pretty-printed on one line behind the part’s name on a terminal', () => {
    const format = lineFormatter({ pretty: true, colorize: false, partNames: ['registry', 'simulator'] });
    expect(format('registry', logLine)).toMatch(/^registry {3}\| \[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening \{"url":"http:\/\/127\.0\.0\.1:7101"\}$/);
  });

  it('keep the part’s name on every line of a multi-line record, such as a stack', () => {
    const format = lineFormatter({ pretty: true, colorize: false, partNames: ['notifier'] });
    const fatal = JSON.stringify({ level: 'fatal', time: '2026-12-01T19:14:16.048Z', service: 'notifier', msg: 'start-up failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at start' } });
    const lines = format('notifier', fatal).split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((line) => line.startsWith('notifier   | '))).toBe(true);
  });
});
