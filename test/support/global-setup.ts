import type { TestProject } from 'vitest/node';
import { resolveInfrastructure, type Infrastructure } from './infrastructure.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infrastructure: { databaseUrl: string; amqpUrl: string };
  }
}

let infrastructure: Infrastructure | undefined;

export async function setup(project: TestProject): Promise<void> {
  infrastructure = await resolveInfrastructure(process.env);
  project.provide('infrastructure', { databaseUrl: infrastructure.databaseUrl, amqpUrl: infrastructure.amqpUrl });
}

export async function teardown(): Promise<void> {
  await infrastructure?.stop();
}
