/**
 * `pnpm start`: runs every part of Defib in this terminal until Ctrl-C (or SIGTERM), then stops
 * them all and exits 0. Exits 1 when no part could start, or when every part has stopped.
 */
import { fileURLToPath } from 'node:url';
import { discoverParts } from './parts.ts';
import { lineFormatter } from './log-lines.ts';
import { Supervisor } from './supervisor.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const parts = discoverParts(root);
const terminal = process.stdout.isTTY;
const supervisor = new Supervisor({
  parts,
  write: (line) => process.stdout.write(`${line}\n`),
  format: lineFormatter({ pretty: terminal, colorize: terminal, partNames: parts.map((part) => part.name) }),
  // Each part waits up to SHUTDOWN_GRACE_MS (10 s by default) for requests in flight.
  stopTimeoutMs: 20_000,
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  void supervisor.stop().then(({ failed }) => process.exit(failed.length === 0 ? 0 : 1));
}
// Ctrl-C reaches the parts too (they share the terminal's process group); each stops once.
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const { running } = await supervisor.start();
if (running.length === 0 && !stopping) {
  process.stdout.write('no part of Defib could start; see the reasons above\n');
  process.exit(1);
}
void supervisor.allExited().then(() => {
  if (stopping) return;
  process.stdout.write('every part of Defib has stopped\n');
  process.exit(1);
});
