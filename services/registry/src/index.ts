export { createRegistryService, type RegistryService, type RegistryServiceOptions } from './registry-service.ts';
export { loadRegistryConfig, type RegistryConfig } from './config.ts';
