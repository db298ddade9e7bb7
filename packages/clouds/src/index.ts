/**
 * @defib/clouds: what Defib's services need to talk to the registered clouds — today the cloud
 * connections (credentials fetched from the registry with a service token and kept sealed in the
 * service's own table) — and the cloud drivers: one {@link CloudDriver} interface over OpenStack
 * and EC2, with the errors, limits and retries of real cloud APIs absorbed once.
 */
export * from './cloud-connection.repository.ts';
export * from './cloud-connections.ts';
export * from './config.ts';
export * from './registry-connection-source.ts';
export * from './driver/cloud-call.ts';
export * from './driver/cloud-driver.ts';
export * from './driver/cloud-error.ts';
export * from './driver/cloud-limiter.ts';
export * from './driver/cloud-metrics.ts';
export * from './ec2/ec2-driver.ts';
export type { Ec2HttpTimeouts } from './ec2/ec2-client.ts';
export * from './openstack/openstack-driver.ts';
export * from './driver/driver-factory.ts';
