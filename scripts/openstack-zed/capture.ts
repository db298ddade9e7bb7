/**
 * Captures, from a real OpenStack cloud, the exchanges Defib's drivers and monitor rely on, as
 * fixtures for the simulator's differential fidelity test (simulator/test/fidelity.test.ts).
 *
 *   node scripts/openstack-zed/capture.ts <authUrl> [user] [password] [project] [domain] [region] [network]
 *   (defaults: admin secret admin Default RegionOne private; image `cirros`, flavor `m1.tiny`)
 *
 * Each exchange is written to simulator/test/fidelity/zed/NN-<name>.json as the request template
 * (service, method, path relative to the service's root, headers, body) and the response (status,
 * selected headers, JSON body). Requests name things through placeholders the replay fills in with
 * its own values: `{token}`, `{password}`, `{server:<alias>}`, `{image}`, `{flavor}`, `{network}`,
 * `{prefix}` (this run's server-name prefix, kept in each fixture as `prefix`), `{last-listed}` (the
 * last server of the latest list), `{since}`/`{before}` (times), `{missing}` (an id that
 * names nothing). No token, password or admin password is stored. The servers it creates are deleted.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Service = 'identity' | 'compute' | 'image' | 'network';

/** What a fixture's request looks like, placeholders unresolved. */
interface RequestTemplate {
  service: Service;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One exchange step of the capture and of its replay. */
interface Step {
  name: string;
  /** What the exchange shows, in a sentence. */
  about: string;
  request: RequestTemplate;
  /** Before sending: wait until this server has this status (`gone`: until it answers 404). */
  await?: { server: string; status: string };
  /** A 202 answer creates a server known from then on by this alias. */
  creates?: string;
}

/** The headers a fixture keeps; the rest vary by server software, not by API. */
const keptHeaders = ['content-type', 'openstack-api-version', 'x-openstack-nova-api-version', 'vary', 'location', 'www-authenticate', 'x-subject-token'];
const missingId = '00000000-0000-4000-8000-000000000000';

const [authUrl, user = 'admin', password = 'secret', project = 'admin', domain = 'Default', region = 'RegionOne', networkName = 'private'] = process.argv.slice(2);
if (!authUrl) {
  console.error('usage: node scripts/openstack-zed/capture.ts <authUrl> [user] [password] [project] [domain] [region] [network]');
  process.exit(2);
}
const identityRoot = authUrl.replace(/\/v3\/?$/, '');
const outDir = join(dirname(fileURLToPath(import.meta.url)), '../../simulator/test/fidelity/zed');

const mv = (version: string): Record<string, string> => ({ 'OpenStack-API-Version': `compute ${version}` });
const tokenBody = (secret: string, projectName = project): object => ({
  auth: {
    identity: { methods: ['password'], password: { user: { name: user, domain: { name: domain }, password: secret } } },
    scope: { project: { name: projectName, domain: { name: domain } } },
  },
});
// The user data a Defib agent would get: base64 of a small JSON document.
const userData = Buffer.from(JSON.stringify({ protocol: 1, assembly: 'db' })).toString('base64');
const compute = (method: string, path: string, extra: Partial<RequestTemplate> = {}): RequestTemplate => ({ service: 'compute', method, path, headers: { 'X-Auth-Token': '{token}', ...extra.headers }, ...(extra.body === undefined ? {} : { body: extra.body }) });
const server = (name: string, extra: object = {}): object => ({ server: { name: `{prefix}-${name}`, imageRef: '{image}', flavorRef: '{flavor}', ...extra } });
const listQuery = 'name=^{prefix}-';

const steps: Step[] = [
  { name: 'identity-versions', about: 'Keystone\'s root: 300 with the versions it offers', request: { service: 'identity', method: 'GET', path: '/' } },
  { name: 'identity-version', about: 'The identity v3 version document, without a token', request: { service: 'identity', method: 'GET', path: '/v3' } },
  { name: 'identity-token', about: 'A project-scoped password token: 201, catalogue, X-Subject-Token', request: { service: 'identity', method: 'POST', path: '/v3/auth/tokens', headers: { 'Content-Type': 'application/json' }, body: tokenBody('{password}') } },
  { name: 'identity-token-validate', about: 'Validating a token: the token document again', request: { service: 'identity', method: 'GET', path: '/v3/auth/tokens', headers: { 'X-Auth-Token': '{token}', 'X-Subject-Token': '{token}' } } },
  { name: 'identity-token-unknown-project', about: 'A scope naming no project: 401', request: { service: 'identity', method: 'POST', path: '/v3/auth/tokens', headers: { 'Content-Type': 'application/json' }, body: tokenBody('{password}', 'no-such-project') } },
  { name: 'identity-token-bad-password', about: 'A wrong password: 401 in Keystone\'s error format', request: { service: 'identity', method: 'POST', path: '/v3/auth/tokens', headers: { 'Content-Type': 'application/json' }, body: tokenBody('{wrong-password}') } },
  { name: 'compute-versions', about: 'The compute root lists v2.1 with its microversion range, without a token', request: { service: 'compute', method: 'GET', path: '/' } },
  { name: 'compute-version-v2.1', about: 'The v2.1 version document, without a token', request: { service: 'compute', method: 'GET', path: '/v2.1' } },
  { name: 'compute-no-token', about: 'A compute call without a token: 401 from keystonemiddleware', request: { service: 'compute', method: 'GET', path: '/v2.1/servers' } },
  { name: 'compute-microversion-too-new', about: 'A microversion past Zed\'s maximum (2.93): 406', request: compute('GET', '/v2.1/servers', { headers: mv('2.94') }) },
  { name: 'compute-microversion-unknown', about: 'A microversion far past any: 406', request: compute('GET', '/v2.1/servers', { headers: mv('2.200') }) },
  { name: 'compute-microversion-legacy-header', about: 'The legacy X-OpenStack-Nova-API-Version header is honoured and echoed', request: compute('GET', '/v2.1/servers', { headers: { 'X-OpenStack-Nova-API-Version': '2.60' } }) },
  { name: 'compute-microversion-latest', about: '`latest` answers at the maximum, echoed in the headers', request: compute('GET', '/v2.1/flavors', { headers: mv('latest') }) },
  { name: 'flavors-list', about: 'Flavors, summary', request: compute('GET', '/v2.1/flavors') },
  { name: 'flavors-detail', about: 'Flavors in detail at 2.1', request: compute('GET', '/v2.1/flavors/detail') },
  { name: 'flavors-detail-2.61', about: 'Flavors in detail with description and extra specs', request: compute('GET', '/v2.1/flavors/detail', { headers: mv('2.61') }) },
  { name: 'flavors-detail-all', about: 'Flavors as `openstack flavor list` asks for them (is_public=None)', request: compute('GET', '/v2.1/flavors/detail?is_public=None') },
  { name: 'flavor-show', about: 'One flavor', request: compute('GET', '/v2.1/flavors/{flavor}') },
  { name: 'flavor-missing', about: 'A flavor that does not exist: 404', request: compute('GET', '/v2.1/flavors/999') },
  { name: 'availability-zones', about: 'Availability zones, as a non-detailed list', request: compute('GET', '/v2.1/os-availability-zone') },
  { name: 'glance-versions', about: 'Glance\'s root: 300 with its versions', request: { service: 'image', method: 'GET', path: '/' } },
  { name: 'glance-images', about: 'Glance v2 images list', request: { service: 'image', method: 'GET', path: '/v2/images', headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'glance-image-show', about: 'One Glance image', request: { service: 'image', method: 'GET', path: '/v2/images/{image}', headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'neutron-versions', about: 'Neutron\'s version list', request: { service: 'network', method: 'GET', path: '/' } },
  { name: 'neutron-networks', about: 'Neutron networks list', request: { service: 'network', method: 'GET', path: '/v2.0/networks', headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'neutron-networks-by-name', about: 'Neutron networks filtered by name', request: { service: 'network', method: 'GET', path: '/v2.0/networks?name={network-name}', headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'neutron-network-show', about: 'One Neutron network', request: { service: 'network', method: 'GET', path: '/v2.0/networks/{network}', headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'neutron-network-missing', about: 'A network that does not exist: 404', request: { service: 'network', method: 'GET', path: `/v2.0/networks/${missingId}`, headers: { 'X-Auth-Token': '{token}' } } },
  { name: 'neutron-no-token', about: 'Neutron without a token: 401', request: { service: 'network', method: 'GET', path: '/v2.0/networks' } },
  { name: 'nova-image-proxy', about: 'The image proxy at 2.1 (deprecated at 2.36)', request: compute('GET', '/v2.1/images') },
  { name: 'nova-image-proxy-2.36', about: 'The image proxy is gone from 2.36 on: 404', request: compute('GET', '/v2.1/images', { headers: mv('2.36') }) },
  { name: 'nova-network-proxy', about: 'The os-networks proxy at 2.1 (deprecated at 2.36)', request: compute('GET', '/v2.1/os-networks') },
  { name: 'nova-network-proxy-2.36', about: 'The os-networks proxy is gone from 2.36 on: 404', request: compute('GET', '/v2.1/os-networks', { headers: mv('2.36') }) },
  { name: 'server-create-2.1', about: 'Create with no microversion and no networks: the only network is used', request: compute('POST', '/v2.1/servers', { body: server('a') }), creates: 'a' },
  { name: 'server-show-build', about: 'Show right after create, before it is ACTIVE', request: compute('GET', '/v2.1/servers/{server:a}') },
  { name: 'server-reboot-build', about: 'A reboot while the server builds: 409', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { reboot: { type: 'SOFT' } } }) },
  { name: 'server-create-2.37-no-networks', about: 'From 2.37 on, networks is required: 400', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('x') }) },
  { name: 'server-create-networks-none', about: 'networks "none": a server without a port', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('b', { networks: 'none' }) }), creates: 'b' },
  {
    name: 'server-create-network-uuid',
    about: 'A server on a network by uuid, with Defib\'s metadata and base64 user data',
    request: compute('POST', '/v2.1/servers', { headers: mv('2.52'), body: server('c', { networks: [{ uuid: '{network}' }], metadata: { 'defib-action': 'launch', 'defib-assembly': 'db' }, user_data: userData, tags: ['defib'] }) }),
    creates: 'c',
  },
  { name: 'server-create-unknown-flavor', about: 'A flavor that does not exist: 400', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('x', { flavorRef: '999', networks: 'none' }) }) },
  { name: 'server-create-unknown-image', about: 'An image that does not exist: 400', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('x', { imageRef: missingId, networks: 'none' }) }) },
  { name: 'server-create-unknown-network', about: 'A network that does not exist: 400', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('x', { networks: [{ uuid: missingId }] }) }) },
  { name: 'server-create-unknown-field', about: 'A field Nova does not know: 400', request: compute('POST', '/v2.1/servers', { headers: mv('2.37'), body: server('x', { networks: 'none', colour: 'red' }) }) },
  { name: 'server-show-active-2.1', about: 'An ACTIVE server at 2.1', request: compute('GET', '/v2.1/servers/{server:a}'), await: { server: 'a', status: 'ACTIVE' } },
  { name: 'server-show-active-latest', about: 'An ACTIVE server at Zed\'s latest microversion', request: compute('GET', '/v2.1/servers/{server:c}', { headers: mv('latest') }), await: { server: 'c', status: 'ACTIVE' } },
  { name: 'server-show-no-networks', about: 'The server made with networks "none" has no addresses', request: compute('GET', '/v2.1/servers/{server:b}', { headers: mv('2.37') }), await: { server: 'b', status: 'ACTIVE' } },
  { name: 'server-metadata', about: 'A server\'s metadata', request: compute('GET', '/v2.1/servers/{server:c}/metadata') },
  { name: 'server-metadata-item', about: 'One metadata item', request: compute('GET', '/v2.1/servers/{server:c}/metadata/defib-action') },
  { name: 'server-metadata-item-missing', about: 'A metadata key the server lacks: 404', request: compute('GET', '/v2.1/servers/{server:c}/metadata/no-such-key') },
  { name: 'server-tags', about: 'A server\'s tags (2.26)', request: compute('GET', '/v2.1/servers/{server:c}/tags', { headers: mv('2.26') }) },
  { name: 'server-reboot-bad-type', about: 'A reboot type Nova does not know: 400', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { reboot: { type: 'GENTLE' } } }) },
  { name: 'server-action-unknown', about: 'An action Nova does not know: 400', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { 'os-nothing': null } }) },
  { name: 'server-start-active', about: 'os-start on an ACTIVE server: 409', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { 'os-start': null } }) },
  { name: 'server-reboot-soft', about: 'Soft reboot: 202, no body', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { reboot: { type: 'SOFT' } } }) },
  { name: 'server-reboot-hard', about: 'Hard reboot: 202, no body', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { reboot: { type: 'HARD' } } }), await: { server: 'a', status: 'ACTIVE' } },
  { name: 'server-stop', about: 'os-stop: 202', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { 'os-stop': null } }), await: { server: 'a', status: 'ACTIVE' } },
  { name: 'server-show-shutoff', about: 'A stopped server', request: compute('GET', '/v2.1/servers/{server:a}'), await: { server: 'a', status: 'SHUTOFF' } },
  { name: 'servers-filter-status', about: 'Servers filtered by status', request: compute('GET', `/v2.1/servers/detail?${listQuery}&status=SHUTOFF`) },
  { name: 'server-stop-shutoff', about: 'os-stop on a SHUTOFF server: 409', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { 'os-stop': null } }) },
  { name: 'server-reboot-soft-shutoff', about: 'A soft reboot of a SHUTOFF server: 409', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { reboot: { type: 'SOFT' } } }) },
  { name: 'server-start', about: 'os-start: 202', request: compute('POST', '/v2.1/servers/{server:a}/action', { body: { 'os-start': null } }) },
  { name: 'servers-list', about: 'Servers, summary, filtered by name', request: compute('GET', `/v2.1/servers?${listQuery}`), await: { server: 'a', status: 'ACTIVE' } },
  { name: 'servers-filter-ip', about: 'Servers filtered by address (a regular expression)', request: compute('GET', `/v2.1/servers/detail?${listQuery}&ip=10.20.`) },
  { name: 'servers-filter-flavor', about: 'Servers filtered by flavor', request: compute('GET', `/v2.1/servers/detail?${listQuery}&flavor={flavor}`) },
  { name: 'servers-filter-image', about: 'Servers filtered by image', request: compute('GET', `/v2.1/servers/detail?${listQuery}&image={image}`) },
  { name: 'servers-filter-tags', about: 'Servers filtered by tag (2.26)', request: compute('GET', `/v2.1/servers/detail?${listQuery}&tags=defib`, { headers: mv('2.26') }) },
  { name: 'servers-filter-zone', about: 'Servers filtered by availability zone', request: compute('GET', `/v2.1/servers/detail?${listQuery}&availability_zone=nova`) },
  { name: 'servers-filter-unknown', about: 'A filter Nova does not know, at 2.1: ignored', request: compute('GET', `/v2.1/servers/detail?${listQuery}&colour=red`) },
  { name: 'servers-filter-unknown-2.75', about: 'A filter Nova does not know, from 2.75 on', request: compute('GET', `/v2.1/servers/detail?${listQuery}&colour=red`, { headers: mv('2.75') }) },
  { name: 'servers-sorted', about: 'Servers sorted by name, ascending', request: compute('GET', `/v2.1/servers/detail?${listQuery}&sort_key=display_name&sort_dir=asc`) },
  { name: 'servers-all-tenants', about: 'An admin listing every project\'s servers', request: compute('GET', `/v2.1/servers/detail?${listQuery}&all_tenants=1`) },
  { name: 'servers-bad-limit', about: 'A limit that is no number: 400', request: compute('GET', '/v2.1/servers/detail?limit=abc') },
  { name: 'servers-detail-page-1', about: 'A page of one: a next link', request: compute('GET', `/v2.1/servers/detail?${listQuery}&limit=1`) },
  { name: 'servers-detail-page-full', about: 'A page exactly as long as the rest of the list: is there a next link?', request: compute('GET', `/v2.1/servers/detail?${listQuery}&limit=3`) },
  { name: 'servers-detail-page-after-last', about: 'The page after the last server: empty', request: compute('GET', `/v2.1/servers/detail?${listQuery}&limit=3&marker={last-listed}`) },
  { name: 'servers-detail-page-short', about: 'A page shorter than its limit: no next link', request: compute('GET', `/v2.1/servers/detail?${listQuery}&limit=5`) },
  { name: 'servers-detail-bad-marker', about: 'A marker naming no server: 400', request: compute('GET', `/v2.1/servers/detail?limit=1&marker=${missingId}`) },
  { name: 'server-delete', about: 'Delete: 204', request: compute('DELETE', '/v2.1/servers/{server:b}') },
  { name: 'server-show-deleted', about: 'Show a deleted server: 404', request: compute('GET', '/v2.1/servers/{server:b}'), await: { server: 'b', status: 'gone' } },
  { name: 'server-show-missing', about: 'Show a server that never existed: 404', request: compute('GET', `/v2.1/servers/${missingId}`) },
  { name: 'servers-detail-after-delete', about: 'The deleted server is no longer listed', request: compute('GET', `/v2.1/servers/detail?${listQuery}`) },
  { name: 'servers-changes-since', about: 'changes-since lists servers changed in the window, the deleted one as DELETED', request: compute('GET', `/v2.1/servers/detail?${listQuery}&changes-since={since}`) },
  { name: 'servers-changes-since-summary', about: 'changes-since on the summary list', request: compute('GET', `/v2.1/servers?${listQuery}&changes-since={since}`) },
  { name: 'servers-changes-before', about: 'changes-since with changes-before (2.66)', request: compute('GET', `/v2.1/servers/detail?${listQuery}&changes-since={since}&changes-before={before}`, { headers: mv('2.66') }) },
  { name: 'servers-changes-before-2.65', about: 'changes-before before 2.66 is an unknown filter', request: compute('GET', `/v2.1/servers/detail?${listQuery}&changes-before={before}`, { headers: mv('2.65') }) },
  { name: 'servers-deleted', about: 'deleted=true lists only deleted servers', request: compute('GET', `/v2.1/servers/detail?${listQuery}&deleted=true`) },
  { name: 'servers-changes-since-future', about: 'A changes-since in the future: nothing', request: compute('GET', `/v2.1/servers/detail?${listQuery}&changes-since=2099-01-01T00:00:00Z`) },
  { name: 'servers-bad-changes-since', about: 'A changes-since that is no time: 400', request: compute('GET', '/v2.1/servers/detail?changes-since=yesterday') },
  { name: 'server-action-missing', about: 'An action on a server that never existed: 404', request: compute('POST', `/v2.1/servers/${missingId}/action`, { body: { reboot: { type: 'HARD' } } }) },
  { name: 'server-delete-missing', about: 'Delete a server that never existed: 404', request: compute('DELETE', `/v2.1/servers/${missingId}`) },
  { name: 'server-delete-a', about: 'Delete: 204', request: compute('DELETE', '/v2.1/servers/{server:a}') },
  { name: 'server-delete-c', about: 'Delete: 204', request: compute('DELETE', '/v2.1/servers/{server:c}') },
];

interface Catalog {
  token: { catalog: { type: string; endpoints: { interface: string; region: string; url: string }[] }[] };
}

async function main(): Promise<void> {
  const prefix = `fid-${randomBytes(3).toString('hex')}`;
  const auth = await fetch(`${identityRoot}/v3/auth/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(tokenBody(password)) });
  const token = auth.headers.get('x-subject-token');
  if (auth.status !== 201 || !token) throw new Error(`authentication failed: ${auth.status}`);
  const catalog = ((await auth.json()) as Catalog).token.catalog;
  const publicUrl = (type: string): string => {
    const url = catalog.find((entry) => entry.type === type)?.endpoints.find((endpoint) => endpoint.interface === 'public' && endpoint.region === region)?.url;
    if (!url) throw new Error(`no public ${type} endpoint in ${region}`);
    return url.replace(/\/$/, '');
  };
  const roots: Record<Service, string> = { identity: identityRoot, compute: publicUrl('compute').replace(/\/v2(\.1)?(\/[0-9a-f]+)?$/, ''), image: publicUrl('image'), network: publicUrl('network') };
  const get = async (service: Service, path: string): Promise<unknown> => {
    const response = await fetch(`${roots[service]}${path}`, { headers: { 'X-Auth-Token': token } });
    return response.json();
  };
  const image = ((await get('image', '/v2/images?name=cirros')) as { images: { id: string }[] }).images[0]?.id;
  const network = ((await get('network', `/v2.0/networks?name=${networkName}`)) as { networks: { id: string }[] }).networks[0]?.id;
  if (!image || !network) throw new Error('the cloud needs an image `cirros` and the network named on the command line');
  const servers = new Map<string, string>();
  let lastListed = missingId;
  const since = new Date(Date.now() - 2_000).toISOString().replace(/\.\d+Z$/, 'Z');

  const resolve = (text: string): string =>
    text
      .replaceAll('{token}', token)
      .replaceAll('{wrong-password}', `${password}-wrong`)
      .replaceAll('{password}', password)
      .replaceAll('{prefix}', prefix)
      .replaceAll('{image}', image)
      .replaceAll('{flavor}', '1')
      .replaceAll('{network-name}', networkName)
      .replaceAll('{network}', network)
      .replaceAll('{since}', since)
      .replaceAll('{before}', new Date(Date.now() + 2_000).toISOString().replace(/\.\d+Z$/, 'Z'))
      .replaceAll('{last-listed}', lastListed)
      .replace(/\{server:(\w+)\}/g, (_match, alias: string) => servers.get(alias) ?? missingId);

  const waitFor = async (alias: string, status: string): Promise<void> => {
    const id = servers.get(alias);
    for (let attempt = 0; attempt < 120; attempt++) {
      const response = await fetch(`${roots.compute}/v2.1/servers/${id}`, { headers: { 'X-Auth-Token': token } });
      const body = (await response.json()) as { server?: { status: string } };
      if (status === 'gone' ? response.status === 404 : body.server?.status === status) return;
      await new Promise((resolveWait) => setTimeout(resolveWait, 500));
    }
    throw new Error(`server ${alias} never became ${status}`);
  };

  // Written aside and swapped in at the end: a capture that fails half-way leaves the fixtures as they were.
  const draftDir = mkdtempSync(join(tmpdir(), 'zed-capture-'));
  let index = 0;
  try {
    for (const step of steps) {
      if (step.await) await waitFor(step.await.server, step.await.status);
      const { request } = step;
      const headers = Object.fromEntries(Object.entries(request.headers ?? {}).map(([key, value]) => [key, resolve(value)]));
      const response = await fetch(`${roots[request.service]}${resolve(request.path)}`, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: resolve(JSON.stringify(request.body)) }),
      });
      const text = await response.text();
      const body: unknown = text === '' ? null : parseJson(text);
      if (step.creates && response.status === 202) servers.set(step.creates, (body as { server: { id: string } }).server.id);
      lastListed = (body as { servers?: { id: string }[] } | null)?.servers?.at(-1)?.id ?? lastListed;
      const fixture = {
        ...step,
        prefix,
        response: { status: response.status, headers: selectHeaders(response.headers, roots[request.service]), body: redact(body) },
      };
      const file = `${String(++index).padStart(2, '0')}-${step.name}.json`;
      writeFileSync(join(draftDir, file), `${JSON.stringify(fixture, null, 2)}\n`);
      console.log(`${file}: ${response.status}`);
    }
  } finally {
    // The steps delete what they create; after a failure, this does.
    for (const id of servers.values()) await fetch(`${roots.compute}/v2.1/servers/${id}`, { method: 'DELETE', headers: { 'X-Auth-Token': token } });
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(dirname(outDir), { recursive: true });
  cpSync(draftDir, outDir, { recursive: true });
  rmSync(draftDir, { recursive: true });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { 'non-json-body': text.slice(0, 200) };
  }
}

function selectHeaders(headers: Headers, root: string): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of keptHeaders) {
    const value = headers.get(name);
    if (value === null) continue;
    // The subject token is a credential: record only that it was there.
    kept[name] = name === 'x-subject-token' ? '<token>' : value.replace(root, '{root}');
  }
  return kept;
}

/** Drops credentials from a response body (Nova's generated adminPass). */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, key === 'adminPass' ? '<password>' : redact(entry)]));
}

await main();
