export { createRegistryService, type RegistryService, type RegistryServiceOptions } from './registry-service.ts';
export { loadRegistryConfig, registryEnvironmentSchema, type RegistryConfig } from './config.ts';
