/** Starts the simulator from the environment: `pnpm --filter ./simulator start`. */
import { createLogger, processEnvironment, runService } from '@defib/platform';
import { loadSimulatorConfig } from './config.ts';
import { createSimulator, isControlApiGuarded } from './simulator.ts';
import { defaultClouds } from './cloud/cloud-config.ts';
import { ScenarioError, scenarioFromArguments } from './scenarios/scenario-loader.ts';
import type { LoadedScenario } from './scenarios/scenario-loader.ts';
import { simulatorOptionsFor } from './scenarios/scenario-world.ts';

function scenarioOrExit(load: () => LoadedScenario | undefined): LoadedScenario | undefined {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

runService(() => {
  const config = loadSimulatorConfig(processEnvironment());
  const logger = createLogger({ service: 'simulator', level: config.logLevel });
  // `--scenario FILE`: the scenario's seed, speed and clouds, then its VMs and faults once listening.
  const loaded = scenarioOrExit(() => scenarioFromArguments(process.argv.slice(2), processEnvironment().INIT_CWD));
  const world = loaded ? simulatorOptionsFor(loaded.scenario, defaultClouds()) : { seed: config.seed, speedFactor: config.speedFactor };
  const simulator = createSimulator({
    ...world,
    logger,
    agents: { connectionsPerBroker: config.agentConnections },
    http: { auth: config.auth, bodyLimitBytes: config.bodyLimitBytes, shutdownGraceMs: config.shutdownGraceMs },
  });
  return {
    logger,
    service: {
      async start() {
        const { url } = await simulator.start(config.port, config.host);
        logger.info({ url, seed: world.seed, speedFactor: world.speedFactor, controlApi: isControlApiGuarded(config.auth) ? 'guarded by tokens' : 'open' }, 'simulator started');
        if (loaded) logger.info({ scenario: simulator.scenarios.run(loaded.scenario, loaded.locate).name }, 'scenario started');
      },
      async stop() {
        await simulator.stop();
        logger.info('stopped');
      },
    },
  };
});
