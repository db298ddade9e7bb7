/**
 * Runs a service's real `main.ts` as a child process, the way an operator runs it, so tests can
 * kill it with SIGKILL at any moment and start it again.
 */
import { processEnvironment } from '@defib/platform';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Every line the process wrote to stdout and stderr. */
  output: string[];
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The environment every service process needs: its database, its bus, an admin token and a sealing key. */
export function serviceEnvironment(database: { url: string }, bus: { url: string; prefix: string }, adminToken: string): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    AMQP_URL: bus.url,
    BUS_PREFIX: bus.prefix,
    DEFIB_ADMIN_TOKEN: adminToken,
    DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
  };
}

/** Starts `services/<name>/src/main.ts` with `env` and resolves once it says it is listening. */
export async function startServiceProcess(name: string, env: Record<string, string>, timeoutMs = 20_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [`${root}services/${name}/src/main.ts`], {
    // No settings file: a test's process sees exactly the variables the test gives it.
    env: { PATH: processEnvironment().PATH ?? '', PORT: '0', LOG_LEVEL: 'info', DEFIB_ENV_FILE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        const match = /"url":"(http:\/\/[^"]+)".*"msg":"listening"/.exec(line);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
  return {
    url,
    child,
    output,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
