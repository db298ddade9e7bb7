/**
 * Type tests: compiled by `pnpm typecheck` (tsc), never run. A wrong type here fails the type
 * check; it is not counted among the behaviour tests vitest runs.
 */
import { expectTypeOf } from 'vitest';
import type { z } from 'zod';
import type { DomainEvent, EventPayload } from './events.ts';
import type { Manifest, ManifestInput, parsedManifestSchema } from './manifest.ts';

// DomainEvent narrows by type.
expectTypeOf<Extract<DomainEvent, { type: 'recovery.escalated' }>['data']>().toEqualTypeOf<EventPayload<'recovery.escalated'>>();
expectTypeOf<DomainEvent<'assembly.failed'>['subject']['assemblyId']>().toEqualTypeOf<string>();

// A manifest's input has string durations; its output has milliseconds.
expectTypeOf<ManifestInput['assemblies'][number]['heartbeat']>().toEqualTypeOf<{ interval?: string | undefined; missed?: number | undefined } | undefined>();
expectTypeOf<Manifest['assemblies'][number]['heartbeat']>().toEqualTypeOf<{ intervalMs: number; missed: number }>();

// The schema of a parsed manifest describes exactly the Manifest type.
expectTypeOf<z.output<typeof parsedManifestSchema>>().toEqualTypeOf<Manifest>();
