/**
 * Reads a drill scenario file and the deployable manifests it names, and checks that its names
 * agree: a fault's deployable, assembly and resource exist, every cloud is one of the scenario's.
 * Every problem is one `DocumentError` naming the file, the field and its line, before anything
 * starts. Manifests are read as the CLI's `defib apply -f` reads them (the contracts' `readManifestFile`).
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { checkManifest, DocumentError, documentIssue, formatIssuePath, inReadingOrder, parseYamlDocument, readDocumentText, readYamlDocument } from '@defib/contracts';
import type { DocumentIssue, Locate, Manifest, ManifestFile } from '@defib/contracts';
import { drillScenarioSchema } from './drill-scenario.ts';
import type { DrillDeployable, DrillScenario, DrillService } from './drill-scenario.ts';

/** One of a drill's deployables, loaded and validated. */
export interface LoadedDeployable extends ManifestFile {
  name: string;
  /** Where its manifest is written: its file (`drills/shop.yaml`), or the scenario's file and field (`drills/default.yaml deployables[1].manifest`). */
  source: string;
}

/** A drill scenario ready to run. */
export interface LoadedDrill {
  file: string;
  scenario: DrillScenario;
  /** In the scenario's order. */
  deployables: LoadedDeployable[];
  /** Where each field of the scenario is written, for problems the runner finds later. */
  locate: Locate;
}

/** Reads, validates and cross-checks a drill scenario and its manifests; throws a `DocumentError`. */
export function loadDrillScenario(file: string): LoadedDrill {
  const { value: scenario, locate } = readYamlDocument(readDocumentText(file), drillScenarioSchema, { source: file, noun: 'drill scenario' });
  const loaded = scenario.deployables.map((deployable, index) => loadDeployable(deployable, index, { file, scenario, locate }));
  const issues = crossCheck(scenario, loaded, locate);
  if (issues.length > 0) throw new DocumentError(inReadingOrder(issues, scenario), file);
  return { file, scenario, deployables: loaded.map(({ deployable }) => deployable), locate };
}

/**
 * The scenario file a drill runs: `<drillsDir>/default.yaml` without an argument, `<drillsDir>/<name>.yaml`
 * for a bare name (`host-failure`), else the path given (relative to the working directory).
 * Throws a `DocumentError` listing the scenarios in `drillsDir` when there is no such file.
 */
export function resolveDrillScenario(argument: string | undefined, drillsDir: string): string {
  const name = argument ?? 'default';
  const bare = /^[A-Za-z0-9][\w-]*$/.test(name);
  const file = bare ? join(drillsDir, `${name}.yaml`) : name;
  if (isFile(file)) return file;
  const available = scenariosIn(drillsDir);
  const known = available.length === 0 ? `${drillsDir} holds none` : `the scenarios in ${drillsDir} are ${available.join(', ')}`;
  throw new DocumentError([{ path: '', message: `${bare ? `no scenario named "${name}"` : `no file ${file}`}; ${known}` }], 'drill scenario');
}

/** Where the scenario is written, for the problems of its deployables. */
interface ScenarioPlace {
  file: string;
  scenario: DrillScenario;
  locate: Locate;
}

/**
 * Where a manifest is written: `source` names its file, `locate` finds its fields there, and its
 * value sits at `at` within `root` (the scenario, for an inline manifest).
 */
/** A loaded deployable, and where the cross-checks report a problem with one of its manifest's fields. */
interface PlacedDeployable {
  deployable: LoadedDeployable;
  /** The issue for `complaint` about the manifest's `field` (whose value is `value`), in the scenario file. */
  issueAt: (field: string, value: string, complaint: string) => DocumentIssue;
}

function loadDeployable(deployable: DrillDeployable, index: number, place: ScenarioPlace): PlacedDeployable {
  if ('file' in deployable) {
    const at = ['deployables', index, 'file'];
    const file = isAbsolute(deployable.file) ? deployable.file : join(dirname(place.file), deployable.file);
    let text: string;
    try {
      text = readDocumentText(file);
    } catch (error) {
      // A manifest file that cannot be read is a mistake in the scenario, at the line naming it.
      if (error instanceof DocumentError) throw new DocumentError([documentIssue(at, `${error.issues[0]?.message ?? 'cannot be read'}: ${file}`, place.locate)], place.file);
      throw error;
    }
    const { value, locate } = parseYamlDocument(text, { source: file, noun: 'manifest' });
    const manifest = checkManifest(value, { source: file, locate, root: value, at: [] });
    return {
      deployable: { name: manifest.parsed.name, source: file, ...manifest },
      issueAt: (field, fieldValue, complaint) => {
        const line = locate([field])?.line;
        return documentIssue(at, `${field} "${fieldValue}" (${file}${line === undefined ? '' : ` line ${line}`}) ${complaint}`, place.locate);
      },
    };
  }
  const at = ['deployables', index, 'manifest'];
  const manifest = checkManifest(deployable.manifest, { source: place.file, locate: place.locate, root: place.scenario, at });
  return {
    deployable: { name: manifest.parsed.name, source: `${place.file} ${formatIssuePath(at)}`, ...manifest },
    issueAt: (field, _value, complaint) => documentIssue([...at, field], complaint, place.locate),
  };
}

/** The scenario's names agree with each other and with its manifests. */
function crossCheck(scenario: DrillScenario, loaded: readonly PlacedDeployable[], locate: Locate): DocumentIssue[] {
  const issues: DocumentIssue[] = [];
  const issue = (path: readonly PropertyKey[], message: string): void => void issues.push(documentIssue(path, message, locate));
  const clouds = scenario.clouds.map((cloud) => cloud.name);
  const notACloud = `is not one of the scenario's clouds (${clouds.join(', ')})`;
  clouds.forEach((name, index) => {
    const first = clouds.indexOf(name);
    if (first !== index) issue(['clouds', index, 'name'], `is also the name of clouds[${first}]`);
  });

  const deployables = new Map<string, Manifest>();
  loaded.forEach(({ deployable, issueAt }, index) => {
    const first = loaded.findIndex((other) => other.deployable.name === deployable.name);
    if (first !== index) issues.push(issueAt('name', deployable.name, `is also the name of deployables[${first}]`));
    else deployables.set(deployable.name, deployable.parsed);
    if (!clouds.includes(deployable.parsed.cloud)) issues.push(issueAt('cloud', deployable.parsed.cloud, notACloud));
  });

  scenario.faults.forEach(({ target }, index) => {
    const at = ['faults', index, 'target'];
    if (target.cloud !== undefined && !clouds.includes(target.cloud)) issue([...at, 'cloud'], notACloud);
    if (target.deployable === undefined) return;
    const manifest = deployables.get(target.deployable);
    if (manifest === undefined) return issue([...at, 'deployable'], `is not one of the scenario's deployables (${[...deployables.keys()].join(', ')})`);
    if (target.assembly === undefined) return;
    const assembly = manifest.assemblies.find((candidate) => candidate.name === target.assembly);
    if (assembly === undefined) return issue([...at, 'assembly'], `is not an assembly of ${manifest.name} (${manifest.assemblies.map((candidate) => candidate.name).join(', ')})`);
    if (target.resource !== undefined && !assembly.resources.some((resource) => resource.name === target.resource)) {
      const resources = assembly.resources.map((resource) => resource.name);
      issue([...at, 'resource'], `is not a resource of ${manifest.name}/${assembly.name} (${resources.length === 0 ? 'it runs none' : resources.join(', ')})`);
    }
  });

  scenario.disruptions.forEach((disruption, index) => {
    if (disruption.kind !== 'kill' || disruption.replica === undefined) return;
    const replicas = replicasOf(scenario, disruption.service);
    if (disruption.replica > replicas) issue(['disruptions', index, 'replica'], `is more than the ${replicas} replica${replicas === 1 ? '' : 's'} of ${disruption.service}`);
  });
  return issues;
}

/** How many replicas of a service the drill runs: the registry runs one. */
function replicasOf(scenario: DrillScenario, service: DrillService): number {
  return service === 'registry' ? 1 : scenario.replicas[service];
}

/** A file's text, or a `DocumentError` naming the file when it cannot be read. */

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** The scenario names in a directory (`default`, `host-failure`), sorted. */
function scenariosIn(directory: string): string[] {
  try {
    return readdirSync(directory)
      .filter((entry) => /\.ya?ml$/.test(entry))
      .map((entry) => entry.replace(/\.ya?ml$/, ''))
      .sort();
  } catch {
    return [];
  }
}
