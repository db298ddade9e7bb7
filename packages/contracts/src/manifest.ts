/**
 * The deployable manifest: the user's unit of work, sent to `PUT /v1/deployables/{name}`.
 *
 * Two shapes exist:
 * - the **input** (`ManifestInput`), as the user writes it: durations are strings (`10s`), most
 *   sections optional;
 * - the **parsed manifest** (`Manifest`), what every service works with: every default filled in,
 *   and every duration a number of milliseconds under a key ending in `Ms` (`interval: '1s'`
 *   becomes `intervalMs: 1000`, `window` becomes `windowMs`, `timeout` becomes `timeoutMs`).
 *
 * `validateManifest` checks the input against the schema and the cross-references (unique names,
 * `dependsOn` targets and cycles, `params` refs) and reports every issue at once, each with the
 * path of the offending field in the input, e.g. `assemblies[1].dependsOn[0]`.
 */
import { z } from 'zod';
import { contractErrorMap, formatIssuePath, toContractIssues, type ContractIssue } from './contract-violation.ts';
import { durationSchema, formatDuration } from './duration.ts';
import { nameSchema } from './name.ts';

/** Steps of the VM-level recovery ladder, in the order they are usually tried. */
export const assemblyRecoverySteps = ['reboot', 'hard-reboot', 'recreate'] as const;
/** A step of an assembly's recovery ladder. */
export type AssemblyRecoveryStep = (typeof assemblyRecoverySteps)[number];

/** Which address of a referenced assembly a parameter receives. */
export const addressFields = ['address', 'publicAddress', 'privateAddress'] as const;
/**
 * `address`: the assembly's preferred address (its floating address if it has one, else its first
 * fixed one); `publicAddress`: its floating address; `privateAddress`: its first fixed address.
 */
export type AddressField = (typeof addressFields)[number];

/** Environment-variable style: letters, digits and underscores, not starting with a digit. */
export const PARAM_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

const countSchema = z.int().min(0).max(100);
const msSchema = z.int().positive();
const imageSchema = z.string().min(1).max(255);
const flavorSchema = z.string().min(1).max(255);
/** The network an assembly's VM is attached to (OpenStack: a network name or id, `auto` or `none`), overriding its cloud's default. */
const networkSchema = z.string().min(1).max(255);
const labelsSchema = z
  .record(z.string().min(1).max(128), z.string().max(255))
  .refine((labels) => Object.keys(labels).length <= 50, 'must have at most 50 entries');
/** A resource parameter's name. */
export const paramKeySchema = z.string().regex(PARAM_KEY_PATTERN, 'must be an environment variable name such as DB_HOST');

/** A parameter whose value is an address of another (or the same) assembly, kept up to date when it changes. */
export const paramRefSchema = z.strictObject({
  ref: nameSchema,
  field: z.enum(addressFields),
});
/** A reference from a resource parameter to an assembly's address. */
export type ParamRef = z.output<typeof paramRefSchema>;

/** A resource parameter: a literal string, or a reference resolved to an assembly's address. */
export const paramValueSchema = z.union([z.string().max(4096), paramRefSchema], {
  error: 'must be a string or { ref, field }',
});

const paramsSchema = z.record(paramKeySchema, paramValueSchema);

/** The ladder: non-empty, no step twice. */
const ladderSchema = z
  .array(z.enum(assemblyRecoverySteps))
  .min(1, 'must list at least one step')
  .superRefine((ladder, ctx) => {
    ladder.forEach((step, index) => {
      if (ladder.indexOf(step) !== index) ctx.addIssue({ code: 'custom', path: [index], message: `lists ${step} twice` });
    });
  });

// ---------------------------------------------------------------------------------------------
// Input schema (what the user writes)
// ---------------------------------------------------------------------------------------------

const deployableEscalationInputSchema = z
  .strictObject({
    maxFailures: countSchema.default(2),
    window: durationSchema.prefault('30m'),
  })
  .transform(({ maxFailures, window }) => ({ maxFailures, windowMs: window }));

const heartbeatInputSchema = z
  .strictObject({
    interval: durationSchema.prefault('1s'),
    missed: z.int().min(1).max(100).default(3),
  })
  .transform(({ interval, missed }) => ({ intervalMs: interval, missed }));

const assemblyEscalationInputSchema = z
  .strictObject({
    maxRecoveries: countSchema.default(3),
    window: durationSchema.prefault('15m'),
    ladder: ladderSchema.default(() => [...assemblyRecoverySteps]),
  })
  .transform(({ maxRecoveries, window, ladder }) => ({ maxRecoveries, windowMs: window, ladder }));

const resourceMonitorInputSchema = z
  .strictObject({
    interval: durationSchema.prefault('2s'),
    timeout: durationSchema.prefault('1s'),
  })
  .superRefine(({ interval, timeout }, ctx) => {
    if (timeout >= interval) {
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must be shorter than interval (${formatDuration(timeout)} is not shorter than ${formatDuration(interval)})` });
    }
  })
  .transform(({ interval, timeout }) => ({ intervalMs: interval, timeoutMs: timeout }));

const resourceEscalationInputSchema = z
  .strictObject({
    maxRestarts: countSchema.default(3),
    window: durationSchema.prefault('5m'),
  })
  .transform(({ maxRestarts, window }) => ({ maxRestarts, windowMs: window }));

const resourceInputSchema = z.strictObject({
  name: nameSchema,
  monitor: resourceMonitorInputSchema.prefault({}),
  escalation: resourceEscalationInputSchema.prefault({}),
  params: paramsSchema.default(() => ({})),
});

const assemblyInputSchema = z.strictObject({
  name: nameSchema,
  image: imageSchema,
  flavor: flavorSchema,
  network: networkSchema.optional(),
  dependsOn: z.array(nameSchema).max(200).default(() => []),
  heartbeat: heartbeatInputSchema.prefault({}),
  escalation: assemblyEscalationInputSchema.prefault({}),
  resources: z.array(resourceInputSchema).max(100).default(() => []),
  metadata: labelsSchema.default(() => ({})),
  tags: labelsSchema.default(() => ({})),
});

/** The manifest's fields and types, without the cross-reference checks. */
const manifestShapeSchema = z.strictObject({
  apiVersion: z.literal('defib/v1'),
  kind: z.literal('Deployable'),
  name: nameSchema,
  cloud: nameSchema,
  escalation: deployableEscalationInputSchema.prefault({}),
  assemblies: z.array(assemblyInputSchema).min(1, 'must list at least one assembly').max(200, 'must list at most 200 assemblies'),
});

/**
 * The complete manifest schema: parses a {@link ManifestInput} into a {@link Manifest}, including
 * the cross-reference checks. `validateManifest` is the friendlier entry point.
 */
export const manifestSchema = manifestShapeSchema.superRefine((manifest, ctx) => {
  for (const issue of checkManifestGraph(readManifestGraph(manifest))) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

/** A manifest as the user writes it: durations as strings, optional sections left out. */
export type ManifestInput = z.input<typeof manifestSchema>;

/**
 * A validated manifest with every default filled in and every duration in milliseconds
 * (`intervalMs`, `timeoutMs`, `windowMs`).
 */
export type Manifest = z.output<typeof manifestSchema>;

/** One assembly (VM) of a parsed manifest. */
export type AssemblySpec = Manifest['assemblies'][number];

/** One resource (service on a VM) of a parsed manifest. */
export type ResourceSpec = AssemblySpec['resources'][number];

// ---------------------------------------------------------------------------------------------
// Parsed shape (what services pass around, e.g. inside `deployable.start-requested`)
// ---------------------------------------------------------------------------------------------

/**
 * Validates an already-parsed {@link Manifest} (milliseconds, defaults filled in), as carried in
 * events and stored by services. Parsing its output again gives the same value.
 */
export const parsedManifestSchema = z
  .strictObject({
    apiVersion: z.literal('defib/v1'),
    kind: z.literal('Deployable'),
    name: nameSchema,
    cloud: nameSchema,
    escalation: z.strictObject({ maxFailures: countSchema, windowMs: msSchema }),
    assemblies: z
      .array(
        z.strictObject({
          name: nameSchema,
          image: imageSchema,
          flavor: flavorSchema,
          network: networkSchema.optional(),
          dependsOn: z.array(nameSchema).max(200),
          heartbeat: z.strictObject({ intervalMs: msSchema, missed: z.int().min(1).max(100) }),
          escalation: z.strictObject({ maxRecoveries: countSchema, windowMs: msSchema, ladder: ladderSchema }),
          resources: z
            .array(
              z.strictObject({
                name: nameSchema,
                monitor: z
                  .strictObject({ intervalMs: msSchema, timeoutMs: msSchema })
                  .refine(({ intervalMs, timeoutMs }) => timeoutMs < intervalMs, { path: ['timeoutMs'], message: 'must be shorter than intervalMs' }),
                escalation: z.strictObject({ maxRestarts: countSchema, windowMs: msSchema }),
                params: paramsSchema,
              }),
            )
            .max(100),
          metadata: labelsSchema,
          tags: labelsSchema,
        }),
      )
      .min(1)
      .max(200),
  })
  .superRefine((manifest, ctx) => {
    for (const issue of checkManifestGraph(readManifestGraph(manifest))) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

// ---------------------------------------------------------------------------------------------
// Cross-reference checks
// ---------------------------------------------------------------------------------------------

type IssuePath = (string | number)[];
type GraphIssue = { path: IssuePath; message: string };

/** The parts of a manifest the cross-reference checks look at, read leniently from any input. */
type ManifestGraph = {
  assemblies: {
    name: string | undefined;
    dependsOn: unknown[];
    resources: { name: string | undefined; params: [key: string, value: unknown][] }[];
  }[];
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Reads names, `dependsOn` and params out of anything manifest-like, skipping whatever is
 * malformed (the schema reports that), so cross-reference issues can be reported alongside
 * schema issues in one answer.
 */
function readManifestGraph(input: unknown): ManifestGraph {
  const assemblies = isRecord(input) ? asArray(input['assemblies']) : [];
  return {
    assemblies: assemblies.map((assembly) => {
      const record = isRecord(assembly) ? assembly : {};
      return {
        name: asString(record['name']),
        dependsOn: asArray(record['dependsOn']),
        resources: asArray(record['resources']).map((resource) => {
          const fields = isRecord(resource) ? resource : {};
          const params = fields['params'];
          return { name: asString(fields['name']), params: isRecord(params) ? Object.entries(params) : [] };
        }),
      };
    }),
  };
}

function checkManifestGraph(graph: ManifestGraph): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const indexByName = new Map<string, number>();

  graph.assemblies.forEach((assembly, index) => {
    if (assembly.name === undefined) return;
    const first = indexByName.get(assembly.name);
    if (first === undefined) indexByName.set(assembly.name, index);
    else issues.push({ path: ['assemblies', index, 'name'], message: `duplicate assembly name "${assembly.name}" (also assemblies[${first}])` });
  });

  // Edges of the dependency graph, by assembly index: only valid, distinct, non-self targets.
  const edges: { target: number; entry: number }[][] = graph.assemblies.map(() => []);

  graph.assemblies.forEach((assembly, index) => {
    const resourceIndex = new Map<string, number>();
    assembly.resources.forEach((resource, r) => {
      if (resource.name === undefined) return;
      const first = resourceIndex.get(resource.name);
      if (first === undefined) resourceIndex.set(resource.name, r);
      else issues.push({ path: ['assemblies', index, 'resources', r, 'name'], message: `duplicate resource name "${resource.name}" (also resources[${first}])` });
    });

    const seen = new Set<string>();
    assembly.dependsOn.forEach((dependency, entry) => {
      if (typeof dependency !== 'string') return;
      const path = ['assemblies', index, 'dependsOn', entry];
      const target = indexByName.get(dependency);
      if (dependency === assembly.name) issues.push({ path, message: 'an assembly cannot depend on itself' });
      else if (target === undefined) issues.push({ path, message: `no assembly named "${dependency}" in this manifest` });
      else if (seen.has(dependency)) issues.push({ path, message: `lists "${dependency}" twice` });
      else edges[index]?.push({ target, entry });
      seen.add(dependency);
    });

    assembly.resources.forEach((resource, r) => {
      for (const [key, value] of resource.params) {
        if (!isRecord(value) || typeof value['ref'] !== 'string') continue;
        if (!indexByName.has(value['ref'])) {
          issues.push({ path: ['assemblies', index, 'resources', r, 'params', key, 'ref'], message: `no assembly named "${value['ref']}" in this manifest` });
        }
      }
    });
  });

  issues.push(...findCycles(graph, edges));
  return issues;
}

/**
 * Depth-first search in manifest order; every back edge closes a cycle, reported at the
 * `dependsOn` entry that closes it, e.g. `dependsOn cycle: db → web → db`.
 */
function findCycles(graph: ManifestGraph, edges: { target: number; entry: number }[][]): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const state = graph.assemblies.map((): 'new' | 'open' | 'done' => 'new');
  const stack: number[] = [];
  const nameOf = (index: number): string => graph.assemblies[index]?.name ?? `assemblies[${index}]`;

  const visit = (node: number): void => {
    state[node] = 'open';
    stack.push(node);
    for (const { target, entry } of edges[node] ?? []) {
      if (state[target] === 'open') {
        const cycle = [...stack.slice(stack.indexOf(target)), target].map(nameOf);
        issues.push({ path: ['assemblies', node, 'dependsOn', entry], message: `dependsOn cycle: ${cycle.join(' → ')}` });
      } else if (state[target] === 'new') {
        visit(target);
      }
    }
    stack.pop();
    state[node] = 'done';
  };

  graph.assemblies.forEach((_, index) => {
    if (state[index] === 'new') visit(index);
  });
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/** A problem in a manifest: the path of the field in the input and what is wrong with it. */
export type ManifestIssue = ContractIssue;

/** Outcome of {@link validateManifest}. */
export type ManifestValidation = { ok: true; manifest: Manifest } | { ok: false; issues: ManifestIssue[] };

/**
 * Validates a manifest as received (parsed JSON or YAML) and returns the parsed {@link Manifest},
 * or every issue found — schema issues and cross-reference issues together — each naming the
 * field by its path in the input (`assemblies[1].dependsOn[0]`, unknown keys included).
 */
export function validateManifest(input: unknown): ManifestValidation {
  const shape = manifestShapeSchema.safeParse(input, { error: contractErrorMap });
  const graphIssues = checkManifestGraph(readManifestGraph(input)).map((issue) => ({ path: formatIssuePath(issue.path), message: issue.message }));
  if (shape.success && graphIssues.length === 0) return { ok: true, manifest: shape.data };
  const issues = shape.success ? [] : withSuggestions(shape.error.issues, toContractIssues(shape.error.issues));
  return { ok: false, issues: [...issues, ...graphIssues] };
}

/** Edit distance between two field names (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The fields an object schema knows at `path` below `schema`, seeing through arrays, defaults and transforms. */
function knownFieldsAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.core.$ZodType | undefined = schema;
  const unwrap = (type: z.core.$ZodType): z.core.$ZodType => {
    const def = type._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType !== undefined) return unwrap(def.innerType);
    if (def.type === 'pipe' && def.in !== undefined) return unwrap(def.in);
    return type;
  };
  for (const segment of [...path, undefined]) {
    if (current === undefined) return [];
    const def = unwrap(current)._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (segment === undefined) return def.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
    current = def.type === 'object' ? def.shape?.[String(segment)] : def.type === 'array' ? def.element : undefined;
  }
  return [];
}

/** `unknown field` becomes `unknown field; did you mean "escalation"?` when a known field is close. */
function withSuggestions(zodIssues: readonly z.core.$ZodIssue[], issues: ContractIssue[]): ContractIssue[] {
  const suggestions = new Map<string, string>();
  for (const issue of zodIssues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const known = knownFieldsAt(manifestShapeSchema, issue.path);
    for (const key of issue.keys) {
      const [closest] = known.map((field) => ({ field, distance: editDistance(key.toLowerCase(), field.toLowerCase()) })).sort((a, b) => a.distance - b.distance);
      if (closest !== undefined && closest.distance <= Math.max(1, Math.floor(closest.field.length / 3))) suggestions.set(formatIssuePath([...issue.path, key]), closest.field);
    }
  }
  return issues.map((issue) => {
    const suggestion = issue.message === 'unknown field' ? suggestions.get(issue.path) : undefined;
    return suggestion === undefined ? issue : { ...issue, message: `unknown field; did you mean "${suggestion}"?` };
  });
}

/**
 * A parsed manifest written back in the manifest's own words (durations as `30m`, not
 * milliseconds): the manifest as Defib acts on it, every default filled in, in a form the user can
 * read beside what they wrote and apply again unchanged.
 */
export function manifestDocument(manifest: Manifest): ManifestInput {
  return {
    apiVersion: manifest.apiVersion,
    kind: manifest.kind,
    name: manifest.name,
    cloud: manifest.cloud,
    escalation: { maxFailures: manifest.escalation.maxFailures, window: formatDuration(manifest.escalation.windowMs) },
    assemblies: manifest.assemblies.map((assembly) => ({
      name: assembly.name,
      image: assembly.image,
      flavor: assembly.flavor,
      ...(assembly.network === undefined ? {} : { network: assembly.network }),
      dependsOn: assembly.dependsOn,
      heartbeat: { interval: formatDuration(assembly.heartbeat.intervalMs), missed: assembly.heartbeat.missed },
      escalation: { maxRecoveries: assembly.escalation.maxRecoveries, window: formatDuration(assembly.escalation.windowMs), ladder: assembly.escalation.ladder },
      resources: assembly.resources.map((resource) => ({
        name: resource.name,
        monitor: { interval: formatDuration(resource.monitor.intervalMs), timeout: formatDuration(resource.monitor.timeoutMs) },
        escalation: { maxRestarts: resource.escalation.maxRestarts, window: formatDuration(resource.escalation.windowMs) },
        params: resource.params,
      })),
      metadata: assembly.metadata,
      tags: assembly.tags,
    })),
  };
}

/**
 * The order to launch assemblies in: waves of names, each depending only on assemblies of earlier
 * waves; within a wave, manifest order. Throws on a dependency cycle (a validated manifest has none).
 */
export function launchOrder(manifest: Manifest): string[][] {
  const remaining = new Map(manifest.assemblies.map((assembly) => [assembly.name, new Set(assembly.dependsOn)]));
  const waves: string[][] = [];
  while (remaining.size > 0) {
    const wave = [...remaining].filter(([, dependencies]) => dependencies.size === 0).map(([name]) => name);
    if (wave.length === 0) throw new Error(`launchOrder: dependsOn cycle among ${[...remaining.keys()].join(', ')}`);
    for (const name of wave) remaining.delete(name);
    for (const dependencies of remaining.values()) for (const name of wave) dependencies.delete(name);
    waves.push(wave);
  }
  return waves;
}

/** Options for {@link dependentsOf}. */
export type DependentsOptions = {
  /** Include dependents of dependents, and so on. Default: direct dependents only. */
  transitive?: boolean;
};

/**
 * Names of the assemblies that depend on `assemblyName` (through `dependsOn`), in manifest order.
 * Throws a RangeError if the manifest has no such assembly.
 */
export function dependentsOf(manifest: Manifest, assemblyName: string, options: DependentsOptions = {}): string[] {
  if (!manifest.assemblies.some((assembly) => assembly.name === assemblyName)) {
    throw new RangeError(`deployable ${manifest.name} has no assembly named ${assemblyName}`);
  }
  const found = new Set<string>();
  let frontier = new Set([assemblyName]);
  while (frontier.size > 0) {
    const next = new Set<string>();
    for (const assembly of manifest.assemblies) {
      if (assembly.name === assemblyName || found.has(assembly.name)) continue;
      if (assembly.dependsOn.some((dependency) => frontier.has(dependency))) {
        found.add(assembly.name);
        next.add(assembly.name);
      }
    }
    frontier = options.transitive === true ? next : new Set();
  }
  return manifest.assemblies.map((assembly) => assembly.name).filter((name) => found.has(name));
}

/** A resource parameter that takes its value from an assembly's address. */
export type ParamReference = { assembly: string; resource: string; param: string; field: AddressField };

/**
 * Every resource parameter that references `assemblyName`'s address: what must be reconfigured
 * when that assembly's address changes.
 */
export function paramReferencesTo(manifest: Manifest, assemblyName: string): ParamReference[] {
  const references: ParamReference[] = [];
  for (const assembly of manifest.assemblies) {
    for (const resource of assembly.resources) {
      for (const [param, value] of Object.entries(resource.params)) {
        if (typeof value !== 'string' && value.ref === assemblyName) {
          references.push({ assembly: assembly.name, resource: resource.name, param, field: value.field });
        }
      }
    }
  }
  return references;
}
