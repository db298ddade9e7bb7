/**
 * Builds the driver for a registered cloud. One factory per process: its drivers share the
 * process's limiters (one per cloud), and a driver is kept while its cloud's registration is
 * unchanged, so its authentication and name lookups are reused.
 */
import type { CloudRegistration } from '@defib/contracts';
import { RealClock, type Clock, type Logger } from '@defib/platform';
import type { Registry } from 'prom-client';
import { createEc2Driver } from '../ec2/ec2-driver.ts';
import { createOpenstackDriver } from '../openstack/openstack-driver.ts';
import { createCloudCaller, type RetryPolicy } from './cloud-call.ts';
import type { CloudDriver } from './cloud-driver.ts';
import { CloudLimiters } from './cloud-limiter.ts';
import { createCloudMetrics, type CloudMetrics } from './cloud-metrics.ts';

export interface CloudDriverFactoryOptions {
  /** The process's limiters; a factory of its own is made when left out. */
  readonly limiters?: CloudLimiters;
  readonly policy?: Partial<RetryPolicy>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** The service's metrics registry: cloud requests and limiter queues are counted there. */
  readonly metrics?: Registry;
}

/** The driver for cloud `name` as registered; `close` releases every driver it made. */
export interface CloudDriverFactory {
  (name: string, registration: CloudRegistration): CloudDriver;
  /**
   * A driver that is not kept, for trying a registration before it is stored (a wrong password
   * must not displace the driver of the registration in force); close it when done.
   */
  trial(name: string, registration: CloudRegistration): CloudDriver;
  close(): void;
}

/** Builds one driver, with no reuse: {@link cloudDriverFactory} is what services use. */
export function createCloudDriver(name: string, registration: CloudRegistration, options: Omit<CloudDriverFactoryOptions, 'metrics'> & { metrics?: CloudMetrics } = {}): CloudDriver {
  const clock = options.clock ?? new RealClock();
  const limiters = options.limiters ?? new CloudLimiters(clock);
  const caller = createCloudCaller({
    cloud: name,
    limiter: limiters.for(name, registration.limits),
    clock,
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  const common = { cloud: name, caller, clock, ...(options.logger === undefined ? {} : { logger: options.logger }) };
  switch (registration.provider) {
    case 'openstack':
      return createOpenstackDriver({ ...common, registration });
    case 'ec2':
      return createEc2Driver({ ...common, registration });
  }
}

export function cloudDriverFactory(options: CloudDriverFactoryOptions = {}): CloudDriverFactory {
  const clock = options.clock ?? new RealClock();
  const limiters = options.limiters ?? new CloudLimiters(clock);
  const { metrics: registry, ...rest } = options;
  const shared = { ...rest, clock, limiters, ...(registry === undefined ? {} : { metrics: createCloudMetrics(registry, limiters) }) };
  const drivers = new Map<string, { fingerprint: string; driver: CloudDriver }>();
  const driverFor = (name: string, registration: CloudRegistration): CloudDriver => {
    const fingerprint = JSON.stringify(registration);
    const kept = drivers.get(name);
    if (kept?.fingerprint === fingerprint) return kept.driver;
    // A call still under way on the replaced driver may fail (unavailable) and is retried where that is safe.
    kept?.driver.close();
    const driver = createCloudDriver(name, registration, shared);
    drivers.set(name, { fingerprint, driver });
    return driver;
  };
  return Object.assign(driverFor, {
    trial: (name: string, registration: CloudRegistration) => createCloudDriver(name, registration, shared),
    close() {
      for (const { driver } of drivers.values()) driver.close();
      drivers.clear();
    },
  });
}
