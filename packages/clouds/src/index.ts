/**
 * @defib/clouds: what Defib's services need to talk to the registered clouds — today the cloud
 * connections (credentials fetched from the registry with a service token and kept sealed in the
 * service's own table); the cloud drivers will live here too.
 */
export * from './cloud-connection.repository.ts';
export * from './cloud-connections.ts';
export * from './config.ts';
export * from './registry-connection-source.ts';
