import { describe, expect, it } from 'vitest';
import {
  manifestDocument,
  dependentsOf,
  launchOrder,
  manifestSchema,
  paramReferencesTo,
  parsedManifestSchema,
  validateManifest,
  type Manifest,
  type ManifestIssue,
} from './manifest.ts';
import { wordpressManifest } from './testing.ts';

/** A minimal valid assembly. */
function anAssembly(name: string, dependsOn: string[] = []): Record<string, unknown> {
  return { name, image: 'fedora-40', flavor: 'm1.small', dependsOn };
}

/** A manifest made of the given assemblies. */
function manifestOf(...assemblies: Record<string, unknown>[]): Record<string, unknown> {
  return { apiVersion: 'defib/v1', kind: 'Deployable', name: 'app', cloud: 'sim', assemblies };
}

function issuesOf(input: unknown): ManifestIssue[] {
  const result = validateManifest(input);
  if (result.ok) throw new Error('expected the manifest to be rejected');
  return result.issues;
}

function parsed(input: unknown): Manifest {
  const result = validateManifest(input);
  if (!result.ok) throw new Error(`expected a valid manifest, got ${JSON.stringify(result.issues)}`);
  return result.manifest;
}

describe('validateManifest', () => {
  describe('a valid manifest', () => {
    it('accepts the brief example once web has an image and a flavor', () => {
      expect(validateManifest(wordpressManifest()).ok).toBe(true);
    });

    it('rejects the brief example as written, naming the missing image and flavor of web', () => {
      const manifest = wordpressManifest();
      delete manifest.assemblies[1]?.['image'];
      delete manifest.assemblies[1]?.['flavor'];
      expect(issuesOf(manifest)).toEqual([
        { path: 'assemblies[1].image', message: 'is required' },
        { path: 'assemblies[1].flavor', message: 'is required' },
      ]);
    });

    it('turns every duration into milliseconds under an Ms key', () => {
      const manifest = parsed(wordpressManifest());
      expect(manifest.escalation).toEqual({ maxFailures: 2, windowMs: 1_800_000 });
      const db = manifest.assemblies[0];
      expect(db?.heartbeat).toEqual({ intervalMs: 1000, missed: 3 });
      expect(db?.escalation).toEqual({ maxRecoveries: 3, windowMs: 900_000, ladder: ['reboot', 'hard-reboot', 'recreate'] });
      expect(db?.resources[0]?.monitor).toEqual({ intervalMs: 2000, timeoutMs: 1000 });
      expect(db?.resources[0]?.escalation).toEqual({ maxRestarts: 3, windowMs: 300_000 });
    });

    it('fills in every default', () => {
      const manifest = parsed(manifestOf({ name: 'solo', image: 'i', flavor: 'f', resources: [{ name: 'svc' }] }));
      expect(manifest.escalation).toEqual({ maxFailures: 2, windowMs: 30 * 60_000 });
      expect(manifest.assemblies[0]).toEqual({
        name: 'solo',
        image: 'i',
        flavor: 'f',
        dependsOn: [],
        heartbeat: { intervalMs: 1000, missed: 3 },
        escalation: { maxRecoveries: 3, windowMs: 15 * 60_000, ladder: ['reboot', 'hard-reboot', 'recreate'] },
        resources: [{ name: 'svc', monitor: { intervalMs: 2000, timeoutMs: 1000 }, escalation: { maxRestarts: 3, windowMs: 5 * 60_000 }, params: {} }],
        metadata: {},
        tags: {},
      });
    });

    it('fills in the defaults of a partly given section', () => {
      const manifest = parsed(manifestOf({ ...anAssembly('a'), heartbeat: { missed: 5 }, escalation: { ladder: ['recreate'] } }));
      expect(manifest.assemblies[0]?.heartbeat).toEqual({ intervalMs: 1000, missed: 5 });
      expect(manifest.assemblies[0]?.escalation).toEqual({ maxRecoveries: 3, windowMs: 900_000, ladder: ['recreate'] });
    });

    it('does not share default arrays between manifests', () => {
      const first = parsed(manifestOf(anAssembly('a')));
      first.assemblies[0]?.escalation.ladder.pop();
      const second = parsed(manifestOf(anAssembly('a')));
      expect(second.assemblies[0]?.escalation.ladder).toEqual(['reboot', 'hard-reboot', 'recreate']);
    });

    it('keeps metadata, tags and literal params', () => {
      const manifest = parsed(
        manifestOf({ ...anAssembly('a'), metadata: { role: 'db' }, tags: { team: 'ops' }, resources: [{ name: 'r', params: { MODE: 'primary', _X1: '' } }] }),
      );
      expect(manifest.assemblies[0]?.metadata).toEqual({ role: 'db' });
      expect(manifest.assemblies[0]?.tags).toEqual({ team: 'ops' });
      expect(manifest.assemblies[0]?.resources[0]?.params).toEqual({ MODE: 'primary', _X1: '' });
    });

    it('lets a resource reference its own assembly', () => {
      expect(validateManifest(manifestOf({ ...anAssembly('a'), resources: [{ name: 'r', params: { BIND: { ref: 'a', field: 'privateAddress' } } }] })).ok).toBe(true);
    });
  });

  describe('unknown fields', () => {
    it.each([
      ['the top level', (m: ReturnType<typeof wordpressManifest>) => (m['replicas'] = 2), 'replicas'],
      ['the deployable escalation', (m: ReturnType<typeof wordpressManifest>) => (m['escalation'] = { maxFailures: 2, retries: 1 }), 'escalation.retries'],
      ['an assembly', (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[0] as Record<string, unknown>)['ram'] = '2G'), 'assemblies[0].ram'],
      ['a heartbeat', (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[0] as Record<string, unknown>)['heartbeat'] = { interval: '1s', jitter: '1s' }), 'assemblies[0].heartbeat.jitter'],
      [
        'a resource monitor',
        (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[1] as Record<string, unknown>)['resources'] = [{ name: 'httpd', monitor: { interval: '2s', command: 'x' } }]),
        'assemblies[1].resources[0].monitor.command',
      ],
      [
        'a param reference',
        (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[1] as Record<string, unknown>)['resources'] = [{ name: 'httpd', params: { DB_HOST: { ref: 'db', field: 'address', port: 3306 } } }]),
        'assemblies[1].resources[0].params.DB_HOST.port',
      ],
    ])('names an unknown field in %s by its path', (_, mutate, path) => {
      const manifest = wordpressManifest();
      mutate(manifest);
      expect(issuesOf(manifest)).toEqual([{ path, message: 'unknown field' }]);
    });

    it('suggests the known field a misspelt one is close to, at its own level', () => {
      const manifest = wordpressManifest();
      manifest['escalaton'] = manifest['escalation'];
      delete manifest['escalation'];
      const [db, web] = manifest.assemblies;
      if (db === undefined || web === undefined) throw new Error('fixture changed');
      db['heartbeat'] = { intervl: '1s', missed: 3 };
      web['dependOn'] = web['dependsOn'];
      delete web['dependsOn'];
      expect(issuesOf(manifest)).toEqual(
        expect.arrayContaining([
          { path: 'escalaton', message: 'unknown field; did you mean "escalation"?' },
          { path: 'assemblies[0].heartbeat.intervl', message: 'unknown field; did you mean "interval"?' },
          { path: 'assemblies[1].dependOn', message: 'unknown field; did you mean "dependsOn"?' },
        ]),
      );
    });
  });

  describe('bad values', () => {
    it('names a bad duration by its path', () => {
      const manifest = wordpressManifest();
      (manifest.assemblies[0] as Record<string, unknown>)['heartbeat'] = { interval: '1.5s', missed: 3 };
      expect(issuesOf(manifest)).toEqual([{ path: 'assemblies[0].heartbeat.interval', message: expect.stringMatching(/must be a duration such as 500ms, 10s or 5m/) as unknown }]);
    });

    it('rejects a zero window', () => {
      const manifest = wordpressManifest();
      manifest['escalation'] = { window: '0s' };
      expect(issuesOf(manifest).map((issue) => issue.path)).toEqual(['escalation.window']);
    });

    it.each([
      ['the deployable', (m: ReturnType<typeof wordpressManifest>) => (m['name'] = 'WordPress'), 'name'],
      ['the cloud', (m: ReturnType<typeof wordpressManifest>) => (m['cloud'] = 'sim_openstack'), 'cloud'],
      ['an assembly', (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[0] as Record<string, unknown>)['name'] = '1db'), 'assemblies[0].name'],
      ['a resource', (m: ReturnType<typeof wordpressManifest>) => ((m.assemblies[0] as Record<string, unknown>)['resources'] = [{ name: 'my.sql' }]), 'assemblies[0].resources[0].name'],
    ])('names a bad name of %s and says what a name looks like', (_, mutate, path) => {
      const manifest = wordpressManifest();
      mutate(manifest);
      const issues = issuesOf(manifest);
      expect(issues.map((issue) => issue.path)).toContain(path);
      expect(issues.find((issue) => issue.path === path)?.message).toContain('^[a-z][a-z0-9-]{0,62}$');
    });

    it('rejects a name longer than 63 characters', () => {
      expect(issuesOf({ ...wordpressManifest(), name: `a${'b'.repeat(63)}` }).map((issue) => issue.path)).toEqual(['name']);
    });

    it('rejects a monitor timeout that is not shorter than its interval', () => {
      const equal = manifestOf({ ...anAssembly('a'), resources: [{ name: 'r', monitor: { interval: '1s', timeout: '1s' } }] });
      expect(issuesOf(equal)).toEqual([{ path: 'assemblies[0].resources[0].monitor.timeout', message: expect.stringContaining('must be shorter than interval') as unknown }]);
      const longer = manifestOf({ ...anAssembly('a'), resources: [{ name: 'r', monitor: { interval: '500ms' } }] });
      expect(issuesOf(longer).map((issue) => issue.path)).toEqual(['assemblies[0].resources[0].monitor.timeout']);
    });

    it('rejects an empty ladder', () => {
      expect(issuesOf(manifestOf({ ...anAssembly('a'), escalation: { ladder: [] } }))).toEqual([{ path: 'assemblies[0].escalation.ladder', message: 'must list at least one step' }]);
    });

    it('rejects a ladder step listed twice, at the repeated entry', () => {
      expect(issuesOf(manifestOf({ ...anAssembly('a'), escalation: { ladder: ['reboot', 'recreate', 'reboot'] } }))).toEqual([
        { path: 'assemblies[0].escalation.ladder[2]', message: 'lists reboot twice' },
      ]);
    });

    it('rejects an unknown ladder step', () => {
      expect(issuesOf(manifestOf({ ...anAssembly('a'), escalation: { ladder: ['reboot', 'pray'] } })).map((issue) => issue.path)).toEqual(['assemblies[0].escalation.ladder[1]']);
    });

    it('rejects heartbeat.missed outside 1..100', () => {
      expect(issuesOf(manifestOf({ ...anAssembly('a'), heartbeat: { missed: 0 } })).map((issue) => issue.path)).toEqual(['assemblies[0].heartbeat.missed']);
      expect(issuesOf(manifestOf({ ...anAssembly('a'), heartbeat: { missed: 101 } })).map((issue) => issue.path)).toEqual(['assemblies[0].heartbeat.missed']);
      expect(issuesOf(manifestOf({ ...anAssembly('a'), heartbeat: { missed: 2.5 } })).map((issue) => issue.path)).toEqual(['assemblies[0].heartbeat.missed']);
    });

    it('rejects a param key that is not an environment variable name', () => {
      expect(issuesOf(manifestOf({ ...anAssembly('a'), resources: [{ name: 'r', params: { 'db-host': 'x' } }] }))).toEqual([
        { path: 'assemblies[0].resources[0].params.db-host', message: 'must be an environment variable name such as DB_HOST' },
      ]);
    });

    it('rejects a param that is neither a string nor a reference, and a reference to an unknown field', () => {
      const issues = issuesOf(manifestOf({ ...anAssembly('a'), resources: [{ name: 'r', params: { PORT: 3306, HOST: { ref: 'a', field: 'ip' } } }] }));
      expect(issues.map((issue) => issue.path)).toEqual(['assemblies[0].resources[0].params.PORT', 'assemblies[0].resources[0].params.HOST.field']);
    });

    it('rejects the wrong apiVersion or kind', () => {
      expect(issuesOf({ ...wordpressManifest(), apiVersion: 'defib/v2', kind: 'Deployment' }).map((issue) => issue.path)).toEqual(['apiVersion', 'kind']);
    });

    it('rejects no assemblies and more than 200', () => {
      expect(issuesOf(manifestOf())).toEqual([{ path: 'assemblies', message: 'must list at least one assembly' }]);
      const many = Array.from({ length: 201 }, (_, index) => anAssembly(`a${index}`));
      expect(issuesOf(manifestOf(...many))).toEqual([{ path: 'assemblies', message: 'must list at most 200 assemblies' }]);
    });

    it('rejects input that is not an object', () => {
      expect(issuesOf('apiVersion: defib/v1')).toEqual([{ path: '', message: expect.any(String) as unknown }]);
      expect(issuesOf(null)).toHaveLength(1);
    });
  });

  describe('cross references', () => {
    it('rejects a dependsOn cycle of two and names the assemblies in it', () => {
      expect(issuesOf(manifestOf(anAssembly('db', ['web']), anAssembly('web', ['db'])))).toEqual([{ path: 'assemblies[1].dependsOn[0]', message: 'dependsOn cycle: db → web → db' }]);
    });

    it('rejects a dependsOn cycle of three and names the assemblies in it', () => {
      expect(issuesOf(manifestOf(anAssembly('lb', ['web']), anAssembly('web', ['db']), anAssembly('db', ['lb'])))).toEqual([
        { path: 'assemblies[2].dependsOn[0]', message: 'dependsOn cycle: lb → web → db → lb' },
      ]);
    });

    it('reports two separate cycles separately', () => {
      const issues = issuesOf(manifestOf(anAssembly('a', ['b']), anAssembly('b', ['a']), anAssembly('c', ['d']), anAssembly('d', ['c'])));
      expect(issues.map((issue) => issue.message)).toEqual(['dependsOn cycle: a → b → a', 'dependsOn cycle: c → d → c']);
    });

    it('rejects an assembly that depends on itself', () => {
      expect(issuesOf(manifestOf(anAssembly('db'), anAssembly('web', ['db', 'web'])))).toEqual([{ path: 'assemblies[1].dependsOn[1]', message: 'an assembly cannot depend on itself' }]);
    });

    it('rejects a dependsOn entry naming no assembly', () => {
      expect(issuesOf(manifestOf(anAssembly('web', ['db'])))).toEqual([{ path: 'assemblies[0].dependsOn[0]', message: 'no assembly named "db" in this manifest' }]);
    });

    it('rejects a dependsOn entry listed twice', () => {
      expect(issuesOf(manifestOf(anAssembly('db'), anAssembly('web', ['db', 'db'])))).toEqual([{ path: 'assemblies[1].dependsOn[1]', message: 'lists "db" twice' }]);
    });

    it('rejects a param reference to an assembly that does not exist', () => {
      const manifest = wordpressManifest();
      (manifest.assemblies[1] as Record<string, unknown>)['resources'] = [{ name: 'httpd', params: { DB_HOST: { ref: 'database', field: 'address' } } }];
      expect(issuesOf(manifest)).toEqual([{ path: 'assemblies[1].resources[0].params.DB_HOST.ref', message: 'no assembly named "database" in this manifest' }]);
    });

    it('rejects duplicate assembly names', () => {
      expect(issuesOf(manifestOf(anAssembly('db'), anAssembly('db')))).toEqual([{ path: 'assemblies[1].name', message: 'duplicate assembly name "db" (also assemblies[0])' }]);
    });

    it('rejects duplicate resource names within an assembly but not across assemblies', () => {
      const resources = [{ name: 'agent' }];
      expect(validateManifest(manifestOf({ ...anAssembly('a'), resources }, { ...anAssembly('b'), resources })).ok).toBe(true);
      expect(issuesOf(manifestOf({ ...anAssembly('a'), resources: [{ name: 'svc' }, { name: 'svc' }] }))).toEqual([
        { path: 'assemblies[0].resources[1].name', message: 'duplicate resource name "svc" (also resources[0])' },
      ]);
    });
  });

  it('reports every issue at once: schema and cross-reference issues together', () => {
    const manifest = manifestOf(
      { ...anAssembly('db', ['web']), heartbeat: { interval: 'soon' }, colour: 'blue' },
      { ...anAssembly('web', ['db', 'cache']), resources: [{ name: 'httpd', monitor: { interval: '1s', timeout: '2s' }, params: { DB: { ref: 'nowhere', field: 'address' } } }] },
    );
    const paths = issuesOf({ ...manifest, name: 'Bad Name' }).map((issue) => issue.path);
    expect(paths.sort()).toEqual(
      [
        'name',
        'assemblies[0].heartbeat.interval',
        'assemblies[0].colour',
        'assemblies[1].resources[0].monitor.timeout',
        'assemblies[1].dependsOn[1]',
        'assemblies[1].resources[0].params.DB.ref',
        'assemblies[1].dependsOn[0]',
      ].sort(),
    );
  });
});

describe('manifestSchema', () => {
  it('applies the cross-reference checks too', () => {
    const result = manifestSchema.safeParse(manifestOf(anAssembly('a', ['b']), anAssembly('b', ['a'])));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('dependsOn cycle: a → b → a');
  });
});

describe('parsedManifestSchema', () => {
  it('accepts a parsed manifest and gives it back unchanged', () => {
    const manifest = parsed(wordpressManifest());
    expect(parsedManifestSchema.parse(manifest)).toEqual(manifest);
  });

  it('rejects a manifest in input form', () => {
    expect(parsedManifestSchema.safeParse(wordpressManifest()).success).toBe(false);
  });
});

describe('manifestDocument', () => {
  it('writes the manifest as Defib acts on it in the manifest’s own words, every default filled in', () => {
    const document = manifestDocument(parsed(wordpressManifest()));
    const [, web] = document.assemblies;
    expect(document.escalation).toEqual({ maxFailures: 2, window: '30m' });
    expect(web).toMatchObject({ name: 'web', heartbeat: { interval: expect.any(String) as unknown, missed: expect.any(Number) as unknown } });
    expect(web?.resources?.[0]).toMatchObject({ name: 'httpd', monitor: { interval: expect.any(String) as unknown, timeout: expect.any(String) as unknown } });
  });

  it('reads back as the same manifest', () => {
    const manifest = parsed(wordpressManifest());
    expect(parsed(manifestDocument(manifest))).toEqual(manifest);
  });
});

describe('launchOrder', () => {
  it('puts each assembly in the wave after its last dependency', () => {
    const manifest = parsed(
      manifestOf(anAssembly('web', ['db', 'cache']), anAssembly('db'), anAssembly('lb', ['web']), anAssembly('cache'), anAssembly('metrics'), anAssembly('worker', ['db'])),
    );
    expect(launchOrder(manifest)).toEqual([['db', 'cache', 'metrics'], ['web', 'worker'], ['lb']]);
  });

  it('launches the brief example db first, then web', () => {
    expect(launchOrder(parsed(wordpressManifest()))).toEqual([['db'], ['web']]);
  });

  it('throws on a cycle in an unvalidated manifest', () => {
    const manifest = parsed(manifestOf(anAssembly('a'), anAssembly('b')));
    manifest.assemblies[0]?.dependsOn.push('b');
    manifest.assemblies[1]?.dependsOn.push('a');
    expect(() => launchOrder(manifest)).toThrow(/cycle/);
  });
});

describe('dependentsOf', () => {
  const manifest = parsed(manifestOf(anAssembly('db'), anAssembly('web', ['db']), anAssembly('lb', ['web']), anAssembly('worker', ['db']), anAssembly('metrics')));

  it('lists the direct dependents in manifest order', () => {
    expect(dependentsOf(manifest, 'db')).toEqual(['web', 'worker']);
    expect(dependentsOf(manifest, 'lb')).toEqual([]);
  });

  it('lists dependents of dependents when transitive', () => {
    expect(dependentsOf(manifest, 'db', { transitive: true })).toEqual(['web', 'lb', 'worker']);
  });

  it('throws for an assembly the manifest does not have', () => {
    expect(() => dependentsOf(manifest, 'nope')).toThrow(RangeError);
  });
});

describe('paramReferencesTo', () => {
  it('lists the resource params that take an assembly address', () => {
    const manifest = parsed(wordpressManifest());
    expect(paramReferencesTo(manifest, 'db')).toEqual([{ assembly: 'web', resource: 'httpd', param: 'DB_HOST', field: 'address' }]);
    expect(paramReferencesTo(manifest, 'web')).toEqual([]);
  });
});
