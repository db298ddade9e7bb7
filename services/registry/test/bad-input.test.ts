import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectHostileBodiesRefused, hostileBodies, type HostileBody } from '../../../test/support/hostile-input.ts';
import { openstackCloud, READ_TOKEN, startRegistry, wordpressManifest, type RegistryHarness } from './registry-harness.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  correlationId: string;
  issues?: { path: string; message: string }[];
}

describe('registry: bad input', () => {
  let registry: RegistryHarness;

  beforeAll(async () => {
    registry = await startRegistry();
    expect((await registry.request('PUT', '/v1/clouds/sim-openstack', { body: openstackCloud })).status).toBe(201);
  });

  afterAll(async () => {
    await registry?.close();
  });

  async function problemOf(response: Response, status: number): Promise<Problem> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await response.json()) as Problem;
    expect(problem.status).toBe(status);
    expect(problem.correlationId).toBe(response.headers.get('x-correlation-id'));
    return problem;
  }

  async function applyIssues(manifest: unknown): Promise<Problem['issues']> {
    const problem = await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { body: manifest }), 400);
    return problem.issues;
  }

  function withAssembly(index: number, changes: Record<string, unknown>) {
    const manifest = wordpressManifest();
    Object.assign(manifest.assemblies[index] as object, changes);
    return manifest;
  }

  it('names the problem in malformed JSON', async () => {
    const problem = await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { raw: '{"apiVersion": "defib/v1",' }), 400);
    expect(problem.detail).toMatch(/JSON/i);
  });

  it('names the line of malformed YAML', async () => {
    const yaml = 'apiVersion: defib/v1\nkind: Deployable\nassemblies:\n  - name: db\n   image: [unclosed\n';
    const problem = await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { raw: yaml, contentType: 'application/yaml' }), 400);
    expect(problem.detail).toMatch(/line \d+/i);
  });

  it('refuses a body in a content type it does not accept', async () => {
    const problem = await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { raw: 'name=wordpress', contentType: 'text/plain' }), 415);
    expect(problem.detail).toContain('application/json');
  });

  it('refuses YAML where only JSON is accepted', async () => {
    await problemOf(await registry.request('PUT', '/v1/clouds/other', { raw: 'provider: ec2', contentType: 'application/yaml' }), 415);
  });

  it('names unknown fields wherever they are', async () => {
    const manifest = wordpressManifest({ colour: 'blue' });
    Object.assign(manifest.assemblies[0] as object, { heartbeat: { interval: '1s', missed: 3, jitter: '1s' } });
    const issues = await applyIssues(manifest);
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'colour', message: expect.stringMatching(/unknown/) as unknown },
        { path: 'assemblies[0].heartbeat.jitter', message: expect.stringMatching(/unknown/) as unknown },
      ]),
    );
  });

  it('names bad durations', async () => {
    const issues = await applyIssues(withAssembly(0, { heartbeat: { interval: 'soon', missed: 3 } }));
    expect(issues).toEqual([{ path: 'assemblies[0].heartbeat.interval', message: expect.stringContaining('duration') as unknown }]);
  });

  it('names a dependsOn cycle', async () => {
    const issues = await applyIssues(withAssembly(0, { dependsOn: ['web'] }));
    expect(issues?.some((issue) => issue.path.startsWith('assemblies[') && issue.path.includes('dependsOn') && /cycle/.test(issue.message))).toBe(true);
  });

  it('names references to assemblies that do not exist', async () => {
    const manifest = withAssembly(1, {
      dependsOn: ['database'],
      resources: [{ name: 'httpd', params: { DB_HOST: { ref: 'database', field: 'address' } } }],
    });
    const issues = await applyIssues(manifest);
    expect(issues?.map((issue) => issue.path)).toEqual(expect.arrayContaining(['assemblies[1].dependsOn[0]', 'assemblies[1].resources[0].params.DB_HOST.ref']));
  });

  it('names an unknown cloud', async () => {
    const issues = await applyIssues(wordpressManifest({ cloud: 'nowhere' }));
    expect(issues).toEqual([{ path: 'cloud', message: expect.stringContaining('nowhere') as unknown }]);
  });

  it('names an unknown cloud together with every other problem of the manifest', async () => {
    const manifest = withAssembly(0, { heartbeat: { interval: 'soon', missed: 3 } });
    manifest.cloud = 'nowhere';
    const issues = await applyIssues(manifest);
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'cloud', message: 'no cloud named nowhere is registered' },
        { path: 'assemblies[0].heartbeat.interval', message: expect.any(String) as unknown },
      ]),
    );
  });

  it('says that the manifest is missing when the body is empty', async () => {
    const problem = await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { raw: '', contentType: 'application/yaml' }), 400);
    expect(problem.issues).toEqual([{ path: 'body', message: 'is required: send the manifest as JSON or YAML' }]);
  });

  it('says what a number in the query string must be', async () => {
    const problem = await problemOf(await registry.request('GET', '/v1/deployables/wordpress/status?events=abc'), 400);
    expect(problem.issues).toEqual([{ path: 'query.events', message: 'must be a whole number from 0 to 50' }]);
    const paging = await problemOf(await registry.request('GET', '/v1/deployables?limit=lots'), 400);
    expect(paging.issues).toEqual([{ path: 'query.limit', message: 'must be a whole number from 1 to 200' }]);
  });

  it('refuses invalid names, in the path and in the manifest', async () => {
    const inPath = await problemOf(await registry.request('PUT', '/v1/deployables/Word_Press', { body: wordpressManifest() }), 400);
    expect(inPath.issues?.[0]?.path).toBe('params.name');
    const mismatch = await problemOf(await registry.request('PUT', '/v1/deployables/blog', { body: wordpressManifest() }), 400);
    expect(mismatch.issues).toEqual([{ path: 'name', message: expect.stringContaining('blog') as unknown }]);
    const badAssembly = await applyIssues(withAssembly(0, { name: 'DB!' }));
    expect(badAssembly?.map((issue) => issue.path)).toContain('assemblies[0].name');
  });

  it('refuses an oversize body', async () => {
    const huge = wordpressManifest({ padding: 'x'.repeat(128 * 1024) });
    await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { body: huge }), 413);
  });

  it('names what is wrong with a cloud registration', async () => {
    const unknownProvider = await problemOf(await registry.request('PUT', '/v1/clouds/azure', { body: { ...openstackCloud, provider: 'azure' } }), 400);
    expect(unknownProvider.issues?.map((issue) => issue.path)).toContain('provider');
    const { credentials: _credentials, ...withoutCredentials } = openstackCloud;
    const missing = await problemOf(await registry.request('PUT', '/v1/clouds/other', { body: withoutCredentials }), 400);
    expect(missing.issues?.map((issue) => issue.path)).toContain('credentials');
  });

  it('never echoes submitted credentials in an error', async () => {
    const body = { ...openstackCloud, authUrl: 'not a url', credentials: { ...openstackCloud.credentials, password: 'leak-me-not-123' } };
    const response = await registry.request('PUT', '/v1/clouds/other', { body });
    expect(response.status).toBe(400);
    expect(await response.text()).not.toContain('leak-me-not-123');
    expect(registry.logs.join('\n')).not.toContain('leak-me-not-123');
  });

  it('refuses bad paging parameters', async () => {
    const problem = await problemOf(await registry.request('GET', '/v1/deployables?limit=0'), 400);
    expect(problem.issues?.[0]?.path).toBe('query.limit');
  });

  it('wants a token, a valid one, and a writer for writes', async () => {
    const missing = await registry.request('GET', '/v1/deployables', { token: null });
    await problemOf(missing, 401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await problemOf(await registry.request('GET', '/v1/deployables', { token: 'not-a-real-token-at-all' }), 401);
    await problemOf(await registry.request('PUT', '/v1/deployables/wordpress', { body: wordpressManifest(), token: READ_TOKEN }), 403);
    expect((await registry.request('GET', '/v1/deployables', { token: READ_TOKEN })).status).toBe(200);
  });

  it('answers unknown things with 404 problems', async () => {
    await problemOf(await registry.request('GET', '/v1/deployables/nothing-here'), 404);
    await problemOf(await registry.request('POST', '/v1/deployables/nothing-here/start'), 404);
    await problemOf(await registry.request('GET', '/v1/nothing'), 404);
  });

  it('never answers hostile bodies with a 5xx, and keeps serving', async () => {
    const put = (path: string) => (body: HostileBody) => registry.request('PUT', path, { raw: body.raw, contentType: body.contentType });
    await expectHostileBodiesRefused(
      [
        { name: 'PUT /v1/deployables/{name}', send: put('/v1/deployables/wordpress') },
        { name: 'PUT /v1/clouds/{name}', send: put('/v1/clouds/other') },
      ],
      hostileBodies(64 * 1024, [
        { name: 'a manifest with nulls and wrong types inside', raw: '{"apiVersion":null,"assemblies":[null,{"resources":[{"params":{"A":{"ref":1}}}]}]}', contentType: 'application/json' },
      ]),
      () => fetch(`${registry.url}/healthz`),
    );
  });

  it('parses a stored cloud registration when reading it: one that no longer validates is a 500 that hides why', async () => {
    expect((await registry.request('PUT', '/v1/clouds/drifted', { body: openstackCloud })).status).toBe(201);
    const { db } = registry.service.kernel.database;
    await db.updateTable('clouds').set({ settings: JSON.stringify({ provider: 'openstack', authUrl: 'ftp://elsewhere', region: 'RegionOne', interface: 'public' }) }).where('name', '=', 'drifted').execute();
    try {
      const problem = await problemOf(await registry.request('GET', '/v1/clouds/drifted'), 500);
      expect(JSON.stringify(problem)).not.toContain('ftp://elsewhere');
      expect(JSON.stringify(problem)).not.toContain(openstackCloud.credentials.password);
    } finally {
      await db.deleteFrom('clouds').where('name', '=', 'drifted').execute();
    }
  });
});
