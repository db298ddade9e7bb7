/**
 * Starts the simulator on PORT (default 7200) with the default clouds. The only place that reads
 * the environment; configuration moves to the platform's loader later.
 */
import { createSimulator } from './simulator.ts';

const { PORT = '7200', HOST = '127.0.0.1', SIM_SEED, SIM_SPEED_FACTOR } = process.env;
const simulator = createSimulator({
  ...(SIM_SEED === undefined ? {} : { seed: SIM_SEED }),
  ...(SIM_SPEED_FACTOR === undefined ? {} : { speedFactor: Number(SIM_SPEED_FACTOR) }),
});
const { url } = await simulator.start(Number(PORT), HOST);
process.stdout.write(`simulator listening on ${url}\n`);

const shutdown = (): void => {
  simulator.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`simulator stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
