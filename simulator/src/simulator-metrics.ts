/**
 * The simulator's Prometheus metrics, on its own registry: what the simulated world holds (VMs
 * per cloud and phase, running agents, active faults) is read when scraped; heartbeats and
 * cloud API calls are counted as they happen. Every label has a bounded set of values.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AgentNetwork } from './agents/agent-network.ts';
import type { AgentRuntime } from './agents/agent-runtime.ts';
import type { ApiRejection, Cloud } from './cloud/cloud.ts';
import type { Phase } from './cloud/lifecycle.ts';
import type { FaultEngine } from './faults/fault-engine.ts';
import { faultKinds } from './faults/fault-spec.ts';

export interface SimulatorMetricSources {
  readonly clouds: readonly Cloud[];
  readonly agents: AgentRuntime;
  readonly network: AgentNetwork;
  readonly faults: FaultEngine;
}

const PHASES: readonly Phase[] = ['building', 'running', 'stopped', 'error', 'deleted'];

/** Distinct operation names kept per cloud; any further one (a client inventing Nova actions) counts as `other`. */
const MAX_OPERATIONS_PER_CLOUD = 200;

/** Registers the simulator's metrics on `registry`; returns the removal of its cloud observers. */
export function registerSimulatorMetrics(registry: Registry, sources: SimulatorMetricSources): () => void {
  const { clouds, agents, network, faults } = sources;
  new Gauge({
    name: 'defib_sim_vms',
    help: 'VMs on record (deleted ones until purged), by cloud and lifecycle phase.',
    labelNames: ['cloud', 'phase'] as const,
    registers: [registry],
    collect() {
      for (const cloud of clouds) {
        const counts = new Map<Phase, number>(PHASES.map((phase) => [phase, 0]));
        for (const vm of cloud.list()) counts.set(vm.state.phase, (counts.get(vm.state.phase) ?? 0) + 1);
        for (const [phase, count] of counts) this.set({ cloud: cloud.name, phase }, count);
      }
    },
  });
  new Gauge({
    name: 'defib_sim_agents_running',
    help: 'In-guest agents running (booted and not shut down).',
    registers: [registry],
    collect() {
      this.set(agents.runningCount);
    },
  });
  new Counter({
    name: 'defib_sim_heartbeats_total',
    help: 'Heartbeats the agents sent, by outcome: published, or dropped because the broker link was down or congested.',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      // The runtime keeps the running totals (cheap on the heartbeat path); they only grow.
      const { published, dropped } = agents.heartbeats;
      this.reset();
      this.inc({ outcome: 'published' }, published);
      this.inc({ outcome: 'dropped' }, dropped);
    },
  });
  new Gauge({
    name: 'defib_sim_agent_broker_connections',
    help: 'Broker connections the agents share, by state (up or down).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const { open, total } = network.connectionCount?.() ?? { open: 0, total: 0 };
      this.set({ state: 'up' }, open);
      this.set({ state: 'down' }, total - open);
    },
  });
  new Gauge({
    name: 'defib_sim_faults_active',
    help: 'Faults active now, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(faultKinds.map((kind) => [kind, 0]));
      for (const fault of faults.list({ state: 'active' })) counts.set(fault.kind, (counts.get(fault.kind) ?? 0) + 1);
      for (const [kind, count] of counts) this.set({ kind }, count);
    },
  });
  const requests = new Counter({
    name: 'defib_sim_cloud_api_requests_total',
    help: 'Cloud API calls, by cloud, operation (servers.create, RunInstances …) and outcome: admitted, or refused as throttled, unavailable or error.',
    labelNames: ['cloud', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const detach = clouds.map((cloud) => {
    const operations = new Set<string>();
    return cloud.observeApi((operation, rejection) => {
      if (!operations.has(operation) && operations.size < MAX_OPERATIONS_PER_CLOUD) operations.add(operation);
      requests.inc({ cloud: cloud.name, operation: operations.has(operation) ? operation : 'other', outcome: outcomeOf(rejection) });
    });
  });
  return () => {
    for (const remove of detach) remove();
  };
}

function outcomeOf(rejection: ApiRejection | undefined): string {
  if (rejection === undefined) return 'admitted';
  switch (rejection.kind) {
    case 'throttled':
      return 'throttled';
    case 'unavailable':
      return 'unavailable';
    case 'internal-error':
      return 'error';
  }
}
