/**
 * Defib's EC2 driver: the {@link CloudDriver} over the EC2 Query API, through the AWS SDK. Every
 * request goes through the cloud's {@link CloudCaller} (one call per HTTP request, so the limiter
 * counts requests, and the caller's timeout aborts the SDK's request); every failure is a
 * {@link CloudError} naming the cloud and the EC2 action.
 *
 * A launch is idempotent by EC2's own means: its action id is the RunInstances `ClientToken`, so
 * a launch retried after a timeout gets the instance the first attempt created, and one retried
 * with other parameters is refused (`IdempotentParameterMismatch`, `rejected`).
 */
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { EC2Client, Instance, InstanceStatus } from '@aws-sdk/client-ec2';
import type { Ec2Registration } from '@defib/contracts';
import { RealClock, type Clock, type Logger } from '@defib/platform';
import type { CloudCaller } from '../driver/cloud-call.ts';
import { managedMetadataKey } from '../driver/cloud-driver.ts';
import { readAllPages } from '../driver/paging.ts';
import type { CloudDriver, CloudInstance, CloudOfferings } from '../driver/cloud-driver.ts';
import { CloudError, isCloudError } from '../driver/cloud-error.ts';
import { createEc2Client, defaultEc2HttpTimeouts } from './ec2-client.ts';
import type { Ec2HttpTimeouts } from './ec2-client.ts';
import { ec2CloudError } from './ec2-errors.ts';
import type { Ec2ErrorContext } from './ec2-errors.ts';
import { ExpiringCache } from '../driver/expiring-cache.ts';
import { isAmiId, newestImageNamed, trustedImageOwners } from './ec2-images.ts';
import { toCloudInstance } from './ec2-instances.ts';
import { runInstancesInput } from './ec2-launch.ts';

export interface Ec2DriverOptions {
  /** The registered cloud's name, for messages and metrics. */
  readonly cloud: string;
  readonly registration: Ec2Registration;
  /** The cloud's caller: its limiter, timeouts and retries. */
  readonly caller: CloudCaller;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Instances per DescribeInstances / DescribeInstanceStatus page, 5 to 1000 (EC2's bounds). Default 1000. */
  readonly pageSize?: number;
  /** How long an image name's AMI id is trusted. Default five minutes. */
  readonly imageCacheTtlMs?: number;
  readonly httpTimeouts?: Ec2HttpTimeouts;
}


const pageBounds = { min: 5, max: 1_000 };

export function createEc2Driver(options: Ec2DriverOptions): CloudDriver {
  const { cloud, registration, caller } = options;
  const clock = options.clock ?? new RealClock();
  const logger = options.logger?.child({ component: 'ec2-driver', cloud });
  const pageSize = Math.min(pageBounds.max, Math.max(pageBounds.min, options.pageSize ?? pageBounds.max));
  const client: EC2Client = createEc2Client(registration, options.httpTimeouts ?? defaultEc2HttpTimeouts);
  const images = new ExpiringCache<string>({ clock, ttlMs: options.imageCacheTtlMs ?? 300_000, maxEntries: 1_000 });
  const { secretAccessKey, sessionToken } = registration.credentials;
  const errorContext: Ec2ErrorContext = { cloud, secrets: sessionToken === undefined ? [secretAccessKey] : [secretAccessKey, sessionToken], now: () => clock.now() };

  /** One EC2 request through the caller, its failure as a CloudError. */
  const send = <T>(operation: string, idempotent: boolean, request: (signal: AbortSignal) => Promise<T>): Promise<T> =>
    caller.call(operation, { idempotent }, async (signal) => {
      try {
        return await request(signal);
      } catch (error) {
        throw ec2CloudError(error, operation, errorContext);
      }
    });

  /** Every item of a paged EC2 list, one request per page. */
  const allPages = <T>(operation: string, page: (nextToken: string | undefined, signal: AbortSignal) => Promise<{ items: T[]; nextToken: string | undefined }>): Promise<T[]> =>
    readAllPages(cloud, operation, async (token) => {
      const result = await send(operation, true, (signal) => page(token, signal));
      return { items: result.items, next: result.nextToken };
    });

  const resolveImage = async (image: string): Promise<string> => {
    if (isAmiId(image)) return image;
    return (await images.load(image, () => lookUpImage(image))).value;
  };

  const lookUpImage = async (image: string): Promise<string> => {
    const result = await send('DescribeImages', true, (signal) =>
      client.send(new DescribeImagesCommand({ Owners: trustedImageOwners, Filters: [{ Name: 'name', Values: [image] }, { Name: 'state', Values: ['available'] }] }), { abortSignal: signal }),
    );
    const found = newestImageNamed(result.Images ?? [], image);
    if (found?.ImageId === undefined) throw new CloudError('not-found', cloud, 'DescribeImages', `no available image named "${image}" owned by this account or Amazon (give another owner's image by its ami- id)`);
    return found.ImageId;
  };

  const statusesOf = (instanceId: string): Promise<InstanceStatus[]> =>
    send('DescribeInstanceStatus', true, (signal) => client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }), { abortSignal: signal })).then((result) => result.InstanceStatuses ?? []);

  const changeState = async (operation: string, request: (signal: AbortSignal) => Promise<unknown>): Promise<void> => {
    await send(operation, true, request);
  };

  return {
    cloud,
    provider: 'ec2',

    async checkAccess() {
      const operation = 'DescribeRegions';
      try {
        const result = await send(operation, true, (signal) => client.send(new DescribeRegionsCommand({ RegionNames: [registration.region] }), { abortSignal: signal }));
        if ((result.Regions ?? []).some((region) => region.RegionName === registration.region)) return;
      } catch (error) {
        if (!(isCloudError(error) && error.code === 'InvalidParameterValue')) throw error;
      }
      throw new CloudError('rejected', cloud, operation, `region "${registration.region}" is not served at ${registration.endpoint}`, { code: 'UnknownRegion' });
    },

    async offerings(): Promise<CloudOfferings> {
      const [owned, types] = await Promise.all([
        send('DescribeImages', true, (signal) => client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'state', Values: ['available'] }] }), { abortSignal: signal })),
        allPages('DescribeInstanceTypes', (nextToken, signal) =>
          client.send(new DescribeInstanceTypesCommand({ MaxResults: 100, NextToken: nextToken }), { abortSignal: signal }).then((result) => ({ items: result.InstanceTypes ?? [], nextToken: result.NextToken })),
        ),
      ]);
      const names = (values: (string | undefined)[]): string[] => [...new Set(values.filter((value): value is string => value !== undefined && value !== ''))].sort();
      return { images: names((owned.Images ?? []).map((image) => image.Name)), flavors: names(types.map((type) => type.InstanceType)) };
    },

    async launch(request) {
      const imageId = await resolveImage(request.image);
      const result = await send('RunInstances', true, (signal) => client.send(new RunInstancesCommand(runInstancesInput(request, imageId)), { abortSignal: signal }));
      const instance = result.Instances?.[0];
      if (instance?.InstanceId === undefined) throw new CloudError('unavailable', cloud, 'RunInstances', 'the answer named no instance');
      logger?.info({ actionId: request.actionId, instanceId: instance.InstanceId }, 'instance launched');
      return toCloudInstance(instance);
    },

    async describe(instanceId) {
      const [described, statuses] = await Promise.all([
        send('DescribeInstances', true, (signal) => client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal })),
        statusesOf(instanceId),
      ]);
      const instance = (described.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).find((candidate) => candidate.InstanceId === instanceId);
      if (!instance) throw new CloudError('not-found', cloud, 'DescribeInstances', `instance ${instanceId} is not known to the cloud`, { code: 'InvalidInstanceID.NotFound' });
      return toCloudInstance(instance, statuses.find((status) => status.InstanceId === instanceId));
    },

    async list(): Promise<CloudInstance[]> {
      // EC2 cannot filter by change time: every page is read and `changesSince` is not needed.
      const [instances, statuses] = await Promise.all([
        allPages<Instance>('DescribeInstances', (nextToken, signal) =>
          client
            .send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: [managedMetadataKey] }], MaxResults: pageSize, NextToken: nextToken }), { abortSignal: signal })
            .then((result) => ({ items: (result.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []), nextToken: result.NextToken })),
        ),
        allPages<InstanceStatus>('DescribeInstanceStatus', (nextToken, signal) =>
          client
            .send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true, MaxResults: pageSize, NextToken: nextToken }), { abortSignal: signal })
            .then((result) => ({ items: result.InstanceStatuses ?? [], nextToken: result.NextToken })),
        ),
      ]);
      const statusById = new Map(statuses.map((status) => [status.InstanceId, status]));
      return instances.map((instance) => toCloudInstance(instance, statusById.get(instance.InstanceId)));
    },

    // EC2 has one reboot: RebootInstances, which EC2 itself turns into a hard reboot when the guest
    // does not shut down cleanly within minutes. A stop and start instead would move the instance
    // to another host, release its public address and need a wait between two calls: that is the
    // ladder's `recreate` territory, not a reboot. So `hard` changes nothing here.
    async reboot(instanceId) {
      await changeState('RebootInstances', (signal) => client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal }));
    },

    async start(instanceId) {
      await changeState('StartInstances', (signal) => client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal }));
    },

    async stop(instanceId) {
      await changeState('StopInstances', (signal) => client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal }));
    },

    async terminate(instanceId) {
      try {
        await changeState('TerminateInstances', (signal) => client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal }));
      } catch (error) {
        if (isCloudError(error) && error.kind === 'not-found') return;
        throw error;
      }
    },

    close() {
      client.destroy();
    },
  };
}
