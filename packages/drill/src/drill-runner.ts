/**
 * Runs one drill: starts the simulator and Defib's services as processes, registers the simulated
 * clouds, subscribes the drill's webhook receiver, applies and starts the scenario's deployables
 * through the registry's API, injects the faults through the simulator's control API (and the
 * disruptions into Defib's own processes) on the scenario's schedule, waits — bounded — until each
 * fault is recovered or given up, and collects what it takes to judge the run: the events the
 * receiver got, recovery's incidents with their steps, the notifier's deliveries and the
 * simulator's timeline. The stack is always stopped and its database and queues removed, also
 * when the drill is interrupted.
 */
import { join } from 'node:path';
import { defaultTimings, type FaultView, type AssemblyHistory } from '@defib/simulator';
import { SeededRandom } from '@defib/platform';
import type { Manifest } from '@defib/contracts';
import { allPages, apiCaller } from './drill-api.ts';
import { startDrillReceiver, type DrillReceiver } from './drill-receiver.ts';
import { expectationOf, type Disruption, type DrillFault, type DrillTime } from './drill-scenario.ts';
import { startDrillStack, type DrillStack } from './drill-stack.ts';
import { judgeFault, type FaultJudgement, type StruckSubjects, type TimedEvent } from './fault-judgement.ts';
import { buildReport, type CollectedIncident, type DrillObservations, type InjectedFault } from './report-builder.ts';
import type { DrillReport, ReportDisruption, ReportStep } from './drill-report.ts';
import type { DrillProgress, ProgressFault } from './progress.ts';
import type { LoadedDrill } from './scenario-loader.ts';

/** A scenario ready to run: what the loader makes of a file. */
export type DrillPlan = Pick<LoadedDrill, 'scenario' | 'deployables'>;

export interface RunDrillOptions {
  plan: DrillPlan;
  databaseUrl: string;
  amqpUrl: string;
  /** Where the processes' logs go (`<outDir>/logs`). */
  outDir: string;
  progress: DrillProgress;
  /** Aborted by Ctrl-C: the drill stops waiting, stops everything and throws. */
  signal?: AbortSignal;
  /** When the command started (for the wall time). */
  startedAt?: number;
}

/** The drill was interrupted (Ctrl-C); everything it started has been stopped. */
export class DrillInterrupted extends Error {
  constructor() {
    super('the drill was interrupted; every process it started was stopped and its database and queues removed');
    this.name = 'DrillInterrupted';
  }
}

interface AppliedDeployable {
  id: string;
  name: string;
  assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[];
}

interface RunningFault extends InjectedFault {
  progress: ProgressFault;
  judgement?: FaultJudgement;
  announced: { detected: boolean; settled: boolean; withstood: boolean };
  /** As of the last look: nothing more to wait for (it may fail again, a flapping resource). */
  settled: boolean;
}

/** How long a flapping resource must stay up after its recovery (beyond its own failAfter) to count as recovered for good. */
const FLAP_QUIET_MS = 3_000;

/** When something scheduled `at` happens, in ms from the start of the fault clock. */
function offsetsOf(at: DrillTime, count: number, random: SeededRandom, spacingMs: number): number[] {
  if (typeof at === 'number') return Array.from({ length: count }, (_, index) => at + index * spacingMs);
  const [from, to] = at.between;
  return Array.from({ length: count }, () => random.int(from, to)).sort((a, b) => a - b);
}

function abortable(signal: AbortSignal | undefined, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DrillInterrupted());
      return;
    }
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DrillInterrupted());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Polls `check` every `intervalMs` until it returns a value, or `timeoutMs` passes (then undefined). */
async function pollUntil<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, signal: AbortSignal | undefined, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await abortable(signal, intervalMs);
  }
}

function describeTarget(fault: DrillFault): string {
  const { target } = fault;
  if (target.assembly !== undefined) return [target.deployable, target.assembly, target.resource].filter((part) => part !== undefined).join('/');
  if (target.host !== undefined) return `host ${target.host}${target.cloud === undefined ? '' : ` of ${target.cloud}`}`;
  return `cloud ${target.cloud ?? '?'}`;
}

/** The simulator's fault spec for a drill fault, its names resolved to the registry's ids. */
function simulatorSpec(fault: DrillFault, deployables: ReadonlyMap<string, AppliedDeployable>): Record<string, unknown> {
  const { at: _at, name: _name, expect: _expect, steps: _steps, target, ...params } = fault;
  const assembly = target.assembly === undefined ? undefined : deployables.get(target.deployable ?? '')?.assemblies.find((candidate) => candidate.name === target.assembly);
  const simulatorTarget = assembly !== undefined ? { assembly: assembly.id } : target.host !== undefined ? { host: target.host, ...(target.cloud === undefined ? {} : { cloud: target.cloud }) } : { cloud: target.cloud };
  return { ...params, target: simulatorTarget, ...(target.resource === undefined ? {} : { resource: target.resource }) };
}

/** Resource ids (in the same deployable) whose parameters reference `assembly`'s address. */
function dependentsOf(deployable: AppliedDeployable, parsed: Manifest, assembly: string): string[] {
  return parsed.assemblies.flatMap((candidate) =>
    candidate.resources
      .filter((resource) => Object.values(resource.params).some((value) => typeof value === 'object' && value.ref === assembly))
      .map((resource) => deployable.assemblies.find((applied) => applied.name === candidate.name)?.resources.find((applied) => applied.name === resource.name)?.id ?? ''),
  );
}

export async function runDrill(options: RunDrillOptions): Promise<DrillReport> {
  const { plan, progress, signal } = options;
  const { scenario } = plan;
  const startedAt = options.startedAt ?? Date.now();
  const seed = String(scenario.seed ?? scenario.name);
  const random = new SeededRandom(seed);
  const events: TimedEvent[] = [];
  let receiver: DrillReceiver | undefined;
  let stack: DrillStack | undefined;
  const disruptions: ReportDisruption[] = [];
  try {
    progress.phase(`starting the simulator and Defib's services (${scenario.replicas.monitor}× monitor, ${scenario.replicas.recovery}× recovery, ${scenario.replicas.notifier}× notifier)`);
    receiver = await startDrillReceiver({
      unacknowledged: scenario.unacknowledged,
      seed,
      onEvent: (event, path) => events.push({ event, path, at: Date.parse(event.occurredAt), receivedAt: Date.now() }),
    });
    stack = await startDrillStack({
      databaseUrl: options.databaseUrl,
      amqpUrl: options.amqpUrl,
      replicas: scenario.replicas,
      clouds: scenario.clouds,
      seed,
      logDir: join(options.outDir, 'logs'),
    });
    if (signal?.aborted) throw new DrillInterrupted();
    progress.phase(`running on database ${stack.databaseName}, bus prefix ${stack.busPrefix} (each process's log in ${join(options.outDir, 'logs')})`);
    const api = apiCaller(stack.adminToken, signal);
    const registry = stack.registryUrl;

    // The simulated clouds: the scenario's hosts, timings and limits, then registered with the registry.
    await api.call(stack.simulatorUrl, 'POST', '/_sim/scenarios', {
      name: `drill ${scenario.name}`,
      seed,
      // The simulator takes durations as text, as the scenario wrote them.
      clouds: scenario.clouds.map(({ actionLimit: _limit, timings, ...cloud }) => ({
        ...cloud,
        ...(timings === undefined ? {} : { timings: Object.fromEntries(Object.entries(timings).map(([key, value]) => [key, key === 'jitter' ? value : `${value}ms`])) }),
      })),
    });
    const simulated = await api.call<{ clouds: { name: string; provider: 'openstack' | 'ec2'; region: string }[] }>(stack.simulatorUrl, 'GET', '/_sim/clouds');
    for (const cloud of scenario.clouds) {
      const known = simulated.clouds.find((candidate) => candidate.name === cloud.name);
      if (known === undefined) throw new Error(`the simulator has no cloud ${cloud.name} (it has ${simulated.clouds.map((candidate) => candidate.name).join(', ')})`);
      const registration =
        known.provider === 'openstack'
          ? { provider: 'openstack', authUrl: `${stack.simulatorUrl}/identity/v3`, region: known.region, credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' } }
          : { provider: 'ec2', endpoint: `${stack.simulatorUrl}/ec2/`, region: known.region, credentials: { accessKeyId: 'AKIADRILL0000000000', secretAccessKey: random.hex(40) } };
      await api.call(registry, 'PUT', `/v1/clouds/${encodeURIComponent(cloud.name)}`, registration);
    }

    const notifier = stack.urlOf('notifier');
    const everything = await api.call<{ id: string; secret: string }>(notifier, 'POST', '/v1/subscriptions', { kind: 'webhook', name: 'drill', url: `${receiver.url}/events`, eventTypes: ['*'], rateLimit: null });
    receiver.trust('events', everything.secret);
    const hook = await api.call<{ id: string; secret: string }>(notifier, 'POST', '/v1/subscriptions', { kind: 'webhook', name: 'drill-hook', url: `${receiver.url}/hook`, hook: true, eventTypes: ['assembly.address-changed'], rateLimit: null });
    receiver.trust('hook', hook.secret);

    // The deployables, through the registry's API, started and running.
    progress.phase(`applying and starting ${plan.deployables.length} deployable${plan.deployables.length === 1 ? '' : 's'}`);
    const applied = new Map<string, AppliedDeployable>();
    for (const deployable of plan.deployables) {
      applied.set(deployable.name, await api.call<AppliedDeployable>(registry, 'PUT', `/v1/deployables/${encodeURIComponent(deployable.name)}`, deployable.manifest));
    }
    const applyingDone = Date.now();
    for (const name of applied.keys()) await api.call(registry, 'POST', `/v1/deployables/${encodeURIComponent(name)}/start`);
    // Running: recovery says so, and the monitor saw every VM beat — the faults start once Defib watches everything.
    const beating = (assemblyId: string) => events.some(({ event }) => event.type === 'assembly.running' && (event.subject as { assemblyId?: string }).assemblyId === assemblyId);
    const runningOf = (id: string) =>
      events.some(({ event }) => event.type === 'deployable.state-changed' && (event.subject as { deployableId?: string }).deployableId === id && (event.data as { to: string }).to === 'running') &&
      [...applied.values()].find((deployable) => deployable.id === id)?.assemblies.every((assembly) => beating(assembly.id)) === true;
    const allRunning = await pollUntil(() => ([...applied.values()].every((deployable) => runningOf(deployable.id)) ? true : undefined), scenario.startTimeout, signal);
    if (allRunning === undefined) {
      const waiting = [...applied.values()].filter((deployable) => !runningOf(deployable.id)).map((deployable) => deployable.name);
      throw new Error(`${waiting.join(', ')} did not run within ${scenario.startTimeout / 1000} s of being started (see the logs in ${join(options.outDir, 'logs')})`);
    }
    const runningAt = Date.now();
    progress.phase(`every deployable runs (${((runningAt - applyingDone) / 1000).toFixed(1)} s); injecting ${scenario.faults.length} fault${scenario.faults.length === 1 ? '' : 's'}`);

    // The schedule: faults and disruptions at their (seeded) times from now.
    const faultRandom = random.fork('faults');
    const schedule = scenario.faults
      .map((fault, index) => ({ fault, index, offset: offsetsOf(fault.at, 1, faultRandom, 0)[0] ?? 0 }))
      .sort((a, b) => a.offset - b.offset || a.index - b.index);
    const disruptionRandom = random.fork('disruptions');
    const disruptionSchedule = scenario.disruptions
      .flatMap((disruption) => offsetsOf(disruption.at, disruption.count, disruptionRandom, 5_000).map((offset) => ({ disruption, offset })))
      .sort((a, b) => a.offset - b.offset);

    const running: RunningFault[] = [];
    const parsedOf = new Map(plan.deployables.map((deployable) => [deployable.name, deployable.parsed]));
    const inject = async (fault: DrillFault, index: number) => {
      const deployable = fault.target.deployable === undefined ? undefined : applied.get(fault.target.deployable);
      const view = await api.call<FaultView>(stack!.simulatorUrl, 'POST', '/_sim/faults', simulatorSpec(fault, applied));
      const assembly = deployable?.assemblies.find((candidate) => candidate.name === fault.target.assembly);
      const struckAssemblies = new Set<string>(assembly !== undefined ? [assembly.id] : view.affected.map((vm) => vm.assemblyId).filter((id): id is string => id !== undefined));
      const deployableIds = new Set<string>([...applied.values()].filter((candidate) => candidate.assemblies.some((item) => struckAssemblies.has(item.id))).map((candidate) => candidate.id));
      const resourceId = assembly?.resources.find((resource) => resource.name === fault.target.resource)?.id;
      const subjects: StruckSubjects = { deployableIds, assemblyIds: struckAssemblies, ...(resourceId === undefined ? {} : { resourceId }) };
      const name = fault.name ?? `${fault.kind} ${describeTarget(fault)}`;
      const entry: RunningFault = {
        index,
        fault,
        name,
        target: describeTarget(fault),
        simulatorId: view.id,
        injectedAt: Date.parse(view.injectedAt.wallClock),
        endsAt: view.endsAt === undefined ? null : Date.parse(view.endsAt.wallClock),
        subjects,
        dependents: deployable !== undefined && assembly !== undefined && fault.kind === 'ip-change' ? dependentsOf(deployable, parsedOf.get(deployable.name) as Manifest, assembly.name) : [],
        progress: { index, name, kind: fault.kind, target: describeTarget(fault) },
        announced: { detected: false, settled: false, withstood: false },
        settled: false,
      };
      running.push(entry);
      progress.injected(entry.progress);
    };

    const disrupt = async (disruption: Disruption) => {
      const at = Date.now();
      if (disruption.kind === 'kill') {
        const killed = await stack!.kill(disruption.service, disruption.replica);
        const record: ReportDisruption = { kind: 'kill', target: killed.map((entry) => entry.label).join(', ') || `${disruption.service} (none running)`, at, backAt: null };
        disruptions.push(record);
        progress.disruption(`killed ${record.target} (SIGKILL); restarting in ${disruption.restartAfter} ms`);
        await abortable(signal, disruption.restartAfter);
        await Promise.all(killed.map((entry) => entry.restart()));
        record.backAt = Date.now();
        progress.disruption(`${record.target} started again`);
      } else if (disruption.kind === 'broker-connections-closed') {
        const closed = await stack!.closeBrokerConnections();
        disruptions.push({ kind: disruption.kind, target: `broker connections (${closed})`, at, backAt: null });
        progress.disruption(`the broker closed ${closed} connections of Defib's services`);
      } else {
        const terminated = await stack!.terminateDatabaseConnections();
        disruptions.push({ kind: disruption.kind, target: `database connections (${terminated})`, at, backAt: null });
        progress.disruption(`PostgreSQL terminated ${terminated} connections to the drill's database`);
      }
    };

    const judge = (entry: RunningFault, now: number) => {
      // A later fault on the same assembly takes over its events; a withstood one (a boot or cloud API fault) has none of its own.
      const later = running.find((other) => other.injectedAt > entry.injectedAt && expectationOf(other.fault) !== 'withstood' && [...other.subjects.assemblyIds].some((id) => entry.subjects.assemblyIds.has(id)));
      entry.judgement = judgeFault({ kind: entry.fault.kind, subjects: entry.subjects, injectedAt: entry.injectedAt, until: later?.injectedAt ?? now + 60_000, events, dependents: entry.dependents });
      return entry.judgement;
    };
    /**
     * Whether a fault needs no more waiting: given up, or recovered with no incident about it left
     * open. A flapping resource is watched until its fault is over or it stayed up for a while: it
     * may fail again after its restart.
     */
    const settled = (entry: RunningFault, judgement: FaultJudgement, now: number): boolean => {
      const over = entry.endsAt === null || now >= entry.endsAt;
      if (judgement.gaveUpAt !== null) return true;
      if (judgement.recoveredAt === null || judgement.openIncidents > 0) return false;
      const failAfter = entry.fault.kind === 'resource-flap' ? Number((entry.fault as { failAfter?: number }).failAfter ?? 0) : 0;
      return entry.fault.kind !== 'resource-flap' || over || now - judgement.recoveredAt > failAfter + FLAP_QUIET_MS;
    };
    /** The steps recovery took for a fault so far, from its incidents (for the progress line). */
    const stepsOf = async (judgement: FaultJudgement): Promise<Pick<ReportStep, 'kind' | 'state'>[]> => {
      const recoveryUrl = stack!.urlOf('recovery');
      const incidents = await Promise.all(judgement.incidentIds.map((id) => api.call<CollectedIncident>(recoveryUrl, 'GET', `/v1/incidents/${id}`).catch(() => undefined)));
      return incidents.flatMap((incident) => incident?.steps ?? []).sort((a, b) => Date.parse(a.intendedAt) - Date.parse(b.intendedAt));
    };
    const announcements: Promise<void>[] = [];
    const announce = (now: number) => {
      for (const entry of running) {
        if (expectationOf(entry.fault) === 'withstood') {
          entry.settled = true;
          if (!entry.announced.withstood && entry.endsAt !== null && now >= entry.endsAt) {
            entry.announced.withstood = true;
            progress.withstood(entry.progress, entry.endsAt - entry.injectedAt);
          }
          continue;
        }
        const judgement = judge(entry, now);
        entry.settled = settled(entry, judgement, now);
        if (!entry.announced.detected && judgement.detectedAt !== null) {
          entry.announced.detected = true;
          progress.detected(entry.progress, judgement.detectedAt - entry.injectedAt, judgement.detectedBy ?? '');
        }
        if (!entry.announced.settled && entry.settled) {
          entry.announced.settled = true;
          if (judgement.gaveUpAt !== null) progress.gaveUp(entry.progress, judgement.gaveUpAt - entry.injectedAt);
          else {
            const recoveredMs = (judgement.recoveredAt ?? now) - entry.injectedAt;
            announcements.push(stepsOf(judgement).then((steps) => progress.recovered(entry.progress, recoveredMs, steps)));
          }
        }
      }
    };

    const timers: Promise<void>[] = [];
    for (const { fault, index, offset } of schedule) timers.push(abortable(signal, runningAt + offset - Date.now()).then(() => inject(fault, index)));
    for (const { disruption, offset } of disruptionSchedule) timers.push(abortable(signal, runningAt + offset - Date.now()).then(() => disrupt(disruption)));
    const scheduled = Promise.all(timers);
    let scheduleError: Error | undefined;
    scheduled.catch((error: unknown) => (scheduleError = error instanceof Error ? error : new Error(String(error))));
    const lastOffset = Math.max(0, ...schedule.map((item) => item.offset), ...disruptionSchedule.map((item) => item.offset));
    const deadline = runningAt + lastOffset + scenario.recoveryTimeout;
    await pollUntil(
      () => {
        if (scheduleError !== undefined) throw scheduleError;
        const now = Date.now();
        announce(now);
        return running.length === schedule.length && running.every((entry) => entry.settled) ? true : undefined;
      },
      Math.max(0, deadline - Date.now()),
      signal,
      200,
    );
    await scheduled.catch(() => undefined);
    if (scheduleError !== undefined) throw scheduleError;
    announce(Date.now());
    await Promise.all(announcements);
    // Cloud and boot faults still active when everything else settled were withstood all the same.
    for (const entry of running.filter((candidate) => expectationOf(candidate.fault) === 'withstood' && !candidate.announced.withstood)) {
      entry.announced.withstood = true;
      progress.withstood(entry.progress, Date.now() - entry.injectedAt);
    }

    // Defib's own parts back, then the notifications settled: every delivery to the receiver done.
    progress.phase('waiting for notifications to settle');
    await stack.ready(30_000);
    const notifierUrl = stack.urlOf('notifier');
    const deliveriesOf = (subscription: string) => allPages<{ id: string; status: string; events: { id: string; type: string }[] }>(api, notifierUrl, `/v1/deliveries?subscription=${subscription}`);
    const settledDeliveries = await pollUntil(
      async () => {
        const deliveries = [...(await deliveriesOf(everything.id)), ...(await deliveriesOf(hook.id))];
        return deliveries.every((delivery) => delivery.status !== 'pending') ? deliveries : undefined;
      },
      30_000,
      signal,
      500,
    );
    const deliveries = settledDeliveries ?? [...(await deliveriesOf(everything.id)), ...(await deliveriesOf(hook.id))];

    // What recovery recorded, and the simulator's ground truth.
    const recoveryUrl = stack.urlOf('recovery');
    const incidents: CollectedIncident[] = [];
    for (const deployable of applied.values()) {
      const listed = await allPages<{ id: string }>(api, recoveryUrl, `/v1/incidents?deployable=${deployable.id}`);
      for (const incident of listed) incidents.push(await api.call<CollectedIncident>(recoveryUrl, 'GET', `/v1/incidents/${incident.id}`));
    }
    const timeline = await api.call<{ assemblies: AssemblyHistory[] }>(stack.simulatorUrl, 'GET', '/_sim/timeline?type=fault');
    const faultViews = await api.call<{ faults: FaultView[] }>(stack.simulatorUrl, 'GET', '/_sim/faults');
    for (const entry of running) {
      const view = faultViews.faults.find((candidate) => candidate.id === entry.simulatorId);
      entry.endedAt = view?.healedAt === undefined ? null : Date.parse(view.healedAt.wallClock);
      judge(entry, Date.now());
    }

    const observations: DrillObservations = {
      scenario,
      seed,
      startedAt,
      runningAt,
      finishedAt: Date.now(),
      deployables: [...applied.values()].map((deployable) => ({ ...deployable, parsed: parsedOf.get(deployable.name) as Manifest })),
      faults: running.map((entry) => ({ ...entry, judgement: entry.judgement ?? judge(entry, Date.now()) })),
      disruptions,
      events,
      attempts: receiver.attempts,
      deliveries,
      incidents,
      assemblies: timeline.assemblies,
      timings: Object.fromEntries(scenario.clouds.map((cloud) => [cloud.name, { ...defaultTimings, ...Object.fromEntries(Object.entries(cloud.timings ?? {}).filter(([, value]) => value !== undefined)) }])),
      unacknowledged: scenario.unacknowledged,
    };
    progress.phase('stopping the simulator and the services');
    return buildReport(observations);
  } finally {
    await stack?.close();
    await receiver?.close();
    progress.done();
  }
}

