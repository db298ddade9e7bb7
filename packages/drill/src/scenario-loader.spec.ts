import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifestFile } from '@defib/contracts';
import { documentErrorOf } from '@defib/contracts/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDrillScenario, resolveDrillScenario } from './scenario-loader.ts';

const directory = mkdtempSync(join(tmpdir(), 'defib-drill-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;
/** Writes `text` to a new file in the temp directory (under `name` when given) and returns its path. */
function write(text: string, name = `scenario-${++files}.yaml`): string {
  const file = join(directory, name);
  writeFileSync(file, text);
  return file;
}


const shopManifest = `apiVersion: defib/v1
kind: Deployable
name: shop
cloud: sim-openstack
assemblies:
  - name: db
    image: fedora-40
    flavor: m1.small
    resources: [{ name: mysqld }]
  - name: web
    image: fedora-40
    flavor: m1.small
    dependsOn: [db]
`;
write(shopManifest, 'shop.yaml');

/** A scenario with the shop from `shop.yaml` and an inline blog; `faults` is its faults section. */
function scenario(faults: string, blogFlavor = 'm1.small'): string {
  return `name: drill
clouds:
  - name: sim-openstack
deployables:
  - file: shop.yaml
  - manifest:
      apiVersion: defib/v1
      kind: Deployable
      name: blog
      cloud: sim-openstack
      assemblies:
        - name: web
          image: fedora-40
          flavor: ${blogFlavor}
${faults}`;
}

const flap = `faults:
  - at: 5s
    kind: resource-flap
    target: { deployable: shop, assembly: db, resource: mysqld }
    failAfter: 2s
`;

describe('the drill scenario loader', () => {
  it('loads a scenario with a manifest from a file beside it and one written inline', () => {
    const file = write(scenario(flap));
    const drill = loadDrillScenario(file);
    expect(drill.deployables.map(({ name, source }) => ({ name, source }))).toEqual([
      { name: 'shop', source: join(directory, 'shop.yaml') },
      { name: 'blog', source: `${file} deployables[1].manifest` },
    ]);
    expect(drill.deployables[0]?.manifest).toMatchObject({ name: 'shop', assemblies: [{ name: 'db' }, { name: 'web', dependsOn: ['db'] }] });
    expect(drill.deployables[0]?.parsed.assemblies[0]?.heartbeat).toEqual({ intervalMs: 1_000, missed: 3 });
    expect(drill.deployables[1]?.parsed.assemblies.map((assembly) => assembly.name)).toEqual(['web']);
    expect(drill.scenario.faults).toEqual([expect.objectContaining({ at: 5_000, kind: 'resource-flap', failAfter: '2s' }) as unknown]);
    expect(drill.locate(['faults', 0, 'failAfter'])?.line).toBe(19);
  });

  it('names the line of a YAML syntax error', () => {
    const file = write('name: drill\nclouds: [{ name: sim-openstack }\ndeployables: []\n');
    const error = documentErrorOf(() => loadDrillScenario(file));
    expect(error.issues).toEqual([expect.objectContaining({ path: '', line: 3 }) as unknown]);
    expect(error.message).toContain(`invalid ${file}: `);
  });

  it('names an unknown field by its path and line', () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(`faults: []\nslos: {}\n`))));
    expect(error.issues).toEqual([{ path: 'slos', message: 'unknown field', line: 16, column: 1 }]);
  });

  it("checks a fault's parameters with the simulator's fault schema", () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap.replace('failAfter: 2s', 'failAfter: soon')))));
    expect(error.issues).toEqual([expect.objectContaining({ path: 'faults[0].failAfter', line: 19 }) as unknown]);
  });

  it('refuses a fault naming an assembly its deployable lacks, listing the ones it has', () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap.replace('assembly: db', 'assembly: cache')))));
    expect(error.issues).toEqual([{ path: 'faults[0].target.assembly', message: 'is not an assembly of shop (db, web)', line: 18, column: 33 }]);
  });

  it('cross-checks every name: deployables, resources, clouds, replicas', () => {
    const text = scenario(`faults:
  - at: 1s
    kind: resource-crash
    target: { deployable: shop, assembly: web, resource: httpd }
  - at: 1s
    kind: vm-crash
    target: { deployable: wiki, assembly: web }
  - at: 1s
    kind: api-outage
    target: { cloud: sim-ec2 }
disruptions:
  - { kind: kill, at: 1s, service: monitor, replica: 2 }
`).replace('      cloud: sim-openstack', '      cloud: sim-ec2');
    const error = documentErrorOf(() => loadDrillScenario(write(text)));
    expect(error.issues.map(({ path, message, line }) => ({ path, message, line }))).toEqual([
      { path: 'deployables[1].manifest.cloud', message: "is not one of the scenario's clouds (sim-openstack)", line: 10 },
      { path: 'faults[0].target.resource', message: 'is not a resource of shop/web (it runs none)', line: 18 },
      { path: 'faults[1].target.deployable', message: "is not one of the scenario's deployables (shop, blog)", line: 21 },
      { path: 'faults[2].target.cloud', message: "is not one of the scenario's clouds (sim-openstack)", line: 24 },
      { path: 'disruptions[0].replica', message: 'is more than the 1 replica of monitor', line: 26 },
    ]);
  });

  it("reports a clash in an inline manifest at its field, and one in a manifest file at the deployable's file, naming that file and line", () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap).replace('name: blog', 'name: shop'))));
    expect(error.issues).toEqual([expect.objectContaining({ path: 'deployables[1].manifest.name', message: 'is also the name of deployables[0]', line: 9 }) as unknown]);
    const other = documentErrorOf(() => loadDrillScenario(write(scenario(flap).replace('  - name: sim-openstack', '  - name: sim-ec2'))));
    expect(other.issues[0]).toMatchObject({ path: 'deployables[0].file', message: `cloud "sim-openstack" (${join(directory, 'shop.yaml')} line 4) is not one of the scenario's clouds (sim-ec2)`, line: 5 });
  });

  it("names a bad inline manifest's field by its path in the scenario", () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap, '""'))));
    expect(error.issues).toEqual([expect.objectContaining({ path: 'deployables[1].manifest.assemblies[0].flavor', line: 14 }) as unknown]);
  });

  it('names the manifest file, field and line of a bad manifest in a separate file', () => {
    const manifest = write(shopManifest.replace('    dependsOn: [db]', '    dependsOn: [cache]'), 'bad-shop.yaml');
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap).replace('file: shop.yaml', 'file: bad-shop.yaml'))));
    expect(error.source).toBe(manifest);
    expect(error.issues).toEqual([{ path: 'assemblies[1].dependsOn[0]', message: 'no assembly named "cache" in this manifest', line: 13, column: 17 }]);
    expect(error.message).toBe(`invalid ${manifest}: assemblies[1].dependsOn[0]: no assembly named "cache" in this manifest (line 13)`);
  });

  it('names the line of a manifest file the scenario names but that does not exist', () => {
    const error = documentErrorOf(() => loadDrillScenario(write(scenario(flap).replace('file: shop.yaml', 'file: gone.yaml'))));
    expect(error.issues).toEqual([expect.objectContaining({ path: 'deployables[0].file', message: `no such file: ${join(directory, 'gone.yaml')}`, line: 5 }) as unknown]);
  });
});

describe('manifest files', () => {
  it('reads a manifest as written and as parsed', () => {
    const { manifest, parsed } = readManifestFile(join(directory, 'shop.yaml'));
    expect(manifest.name).toBe('shop');
    expect(parsed.assemblies[1]?.dependsOn).toEqual(['db']);
  });

  it('names the file, field and line of every problem, in reading order', () => {
    const file = write(shopManifest.replace('    flavor: m1.small\n    resources', '    flavour: m1.small\n    resources').replace('cloud: sim-openstack', 'cloud: ""'), 'typo.yaml');
    const error = documentErrorOf(() => readManifestFile(file));
    expect(error.issues.map(({ path, line }) => ({ path, line }))).toEqual([
      { path: 'cloud', line: 4 },
      { path: 'assemblies[0].flavor', line: 6 },
      { path: 'assemblies[0].flavour', line: 8 },
    ]);
    expect(error.issues[2]?.message).toBe('unknown field; did you mean "flavor"?');
    expect(error.message).toMatch(new RegExp(`^invalid ${file}: cloud: .* \\(line 4\\)`));
  });

  it('says when the file is missing', () => {
    expect(documentErrorOf(() => readManifestFile(join(directory, 'none.yaml'))).message).toBe(`invalid ${join(directory, 'none.yaml')}: no such file`);
  });
});

describe('choosing the drill scenario', () => {
  const drills = join(directory, 'drills');
  mkdirSync(drills);
  for (const name of ['default', 'host-failure', 'gave-up']) writeFileSync(join(drills, `${name}.yaml`), 'name: x\n');

  it('runs the default without an argument, a bare name from the drills directory, else a path', () => {
    expect(resolveDrillScenario(undefined, drills)).toBe(join(drills, 'default.yaml'));
    expect(resolveDrillScenario('host-failure', drills)).toBe(join(drills, 'host-failure.yaml'));
    expect(resolveDrillScenario(join(directory, 'shop.yaml'), drills)).toBe(join(directory, 'shop.yaml'));
  });

  it('lists the scenarios there are when the one asked for is not there', () => {
    expect(documentErrorOf(() => resolveDrillScenario('host-falure', drills)).message).toBe(`invalid drill scenario: no scenario named "host-falure"; the scenarios in ${drills} are default, gave-up, host-failure`);
    expect(documentErrorOf(() => resolveDrillScenario('nowhere/x.yaml', drills)).message).toBe(`invalid drill scenario: no file nowhere/x.yaml; the scenarios in ${drills} are default, gave-up, host-failure`);
  });
});
