import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ScenarioError, loadScenario, scenarioFromArguments } from './scenario-loader.ts';

const directory = mkdtempSync(join(tmpdir(), 'defib-scenario-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function issuesOf(action: () => unknown): ScenarioError['issues'] {
  try {
    action();
  } catch (error) {
    if (error instanceof ScenarioError) return error.issues;
    throw error;
  }
  throw new Error('no ScenarioError');
}

describe('scenario loader', () => {
  it('fills in defaults and turns durations into milliseconds', () => {
    const { scenario } = loadScenario('name: s\nseed: 3\nfaults:\n  - at: 1m\n    kind: agent-partition\n    target: { host: h }\n    duration: 30s\n');
    expect(scenario).toEqual({ name: 's', seed: 3, speed: 1, vms: [], faults: [{ at: 60_000, count: 1, kind: 'agent-partition', target: { host: 'h' }, duration: 30_000 }] });
  });

  it('names a missing field at the line of the mapping that lacks it', () => {
    expect(issuesOf(() => loadScenario('name: s\nseed: 1\nvms:\n  - cloud: sim-ec2\n    name: a\n    image: fedora-40\n'))).toEqual([{ path: 'vms[0].flavor', message: 'is required', line: 4, column: 5 }]);
  });

  it('refuses YAML it cannot trust: several documents, duplicate keys', () => {
    expect(issuesOf(() => loadScenario('name: a\n---\nname: b\n'))[0]?.message).toBe('a scenario is one YAML document');
    expect(issuesOf(() => loadScenario('name: a\nname: b\nseed: 1\n'))[0]).toMatchObject({ line: 2 });
  });

  it('reads --scenario FILE and --scenario=FILE, relative to a base directory', () => {
    writeFileSync(join(directory, 'one.yaml'), 'name: one\nseed: 1\n');
    expect(scenarioFromArguments(['--scenario', join(directory, 'one.yaml')])?.scenario.name).toBe('one');
    expect(scenarioFromArguments(['--', '--scenario=one.yaml'], directory)?.scenario.name).toBe('one');
    expect(scenarioFromArguments(['--port', '1'])).toBeUndefined();
  });

  it('says which file is missing or invalid', () => {
    expect(issuesOf(() => scenarioFromArguments(['--scenario']))[0]?.message).toBe('--scenario needs a file');
    expect(issuesOf(() => scenarioFromArguments(['--scenario', join(directory, 'none.yaml')]))[0]?.message).toContain('no scenario file at');
    writeFileSync(join(directory, 'bad.yaml'), 'name: bad\nseed: 1\nspeed: -1\n');
    expect(issuesOf(() => scenarioFromArguments(['--scenario', join(directory, 'bad.yaml')]))).toEqual([expect.objectContaining({ path: 'speed', line: 3 }) as unknown]);
  });
});
