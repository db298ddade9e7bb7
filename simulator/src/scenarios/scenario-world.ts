/** How a scenario's `clouds` overrides combine with a simulator's configured clouds. */
import type { CloudConfigInput } from '../cloud/cloud-config.ts';
import type { Scenario, ScenarioCloud } from './scenario-schema.ts';

/** The fields of `values` that are set: an override leaves the others as they were. */
function withoutUnset<T extends object>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** A configured cloud with a scenario's override on top (timings merge field by field). */
export function withOverride(input: CloudConfigInput, override: ScenarioCloud | undefined): CloudConfigInput {
  if (!override) return input;
  const { provider: _provider, timings, ...rest } = override;
  const defined = withoutUnset(rest) as Partial<CloudConfigInput>;
  return { ...input, ...defined, name: input.name, provider: input.provider, timings: { ...input.timings, ...withoutUnset(timings ?? {}) } };
}

/**
 * The clouds a simulator started for a scenario runs: the base clouds with the scenario's
 * overrides, then the scenario's new clouds (which must name their provider).
 */
export function scenarioClouds(base: readonly CloudConfigInput[], overrides: readonly ScenarioCloud[] = []): CloudConfigInput[] {
  const merged = base.map((input) => withOverride(input, overrides.find((override) => override.name === input.name)));
  for (const override of overrides) {
    if (base.some((input) => input.name === override.name)) continue;
    if (override.provider === undefined) throw new Error(`scenario cloud ${override.name} is new and needs a provider`);
    merged.push(withOverride({ name: override.name, provider: override.provider }, override));
  }
  return merged;
}

/** The simulator options that start a simulator in a scenario's world (`--scenario FILE`). */
export function simulatorOptionsFor(scenario: Scenario, base: readonly CloudConfigInput[]): { seed: string | number; speedFactor: number; clouds: CloudConfigInput[] } {
  return { seed: scenario.seed, speedFactor: scenario.speed, clouds: scenarioClouds(base, scenario.clouds) };
}
