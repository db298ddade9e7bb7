/**
 * The OpenAPI 3.1 document of a service, generated from the same route definitions and zod
 * schemas that validate requests, so the description cannot drift from the behaviour.
 */
import { z } from 'zod';
import { BODY_MEDIA_TYPES } from './body.ts';
import { ERROR_STATUS, type ErrorCode } from './errors.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';
import { openApiPath, pathParameterNames, type ObjectSchema, type Route } from './route.ts';

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, unknown>;

const PROBLEM_REF = { $ref: '#/components/responses/Problem' };

export function buildOpenApiDocument(routes: readonly Route[], info: OpenApiInfo): OpenApiDocument {
  const schemas: Record<string, JsonSchema> = { Problem: problemSchema() };
  const paths: Record<string, Record<string, unknown>> = {};

  for (const route of routes) {
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      ...(route.tags === undefined ? {} : { tags: [...route.tags] }),
      'x-defib-scope': route.scope,
      security: route.scope === 'public' ? [] : [{ bearerAuth: [] }],
    };

    const parameters = [
      ...parametersOf(route, 'path', route.params, schemas),
      ...parametersOf(route, 'query', route.query, schemas),
    ];
    if (parameters.length > 0) operation.parameters = parameters;

    if (route.body !== undefined) {
      const name = `${route.operationId}Body`;
      schemas[name] = bodySchema(route.body, name, schemas);
      const mediaTypes = (route.bodyFormats ?? ['json']).flatMap((format) =>
        BODY_MEDIA_TYPES[format].filter((mediaType) => !mediaType.includes('*')),
      );
      operation.requestBody = {
        required: !acceptsMissing(route.body),
        content: Object.fromEntries(mediaTypes.map((mediaType) => [mediaType, { schema: { $ref: `#/components/schemas/${name}` } }])),
      };
    }

    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      responses[status] =
        spec.schema === undefined
          ? { description: spec.description }
          : {
              description: spec.description,
              content: { [spec.contentType ?? 'application/json']: { schema: convert(spec.schema, 'output', `${route.operationId}${status}`, schemas) } },
            };
    }
    const implied: number[] = [];
    if (route.params !== undefined || route.query !== undefined || route.body !== undefined) implied.push(ERROR_STATUS.validation_failed);
    if (route.scope !== 'public') implied.push(ERROR_STATUS.unauthorized);
    if (route.scope === 'write' || route.scope === 'service') implied.push(ERROR_STATUS.forbidden);
    if (route.body !== undefined) implied.push(ERROR_STATUS.payload_too_large, ERROR_STATUS.unsupported_media_type);
    for (const status of implied) responses[String(status)] ??= PROBLEM_REF;
    responses.default = PROBLEM_REF;
    operation.responses = responses;

    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method]: operation };
  }

  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, ...(info.description === undefined ? {} : { description: info.description }) },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      responses: {
        Problem: {
          description: 'An RFC 9457 problem: what went wrong, with the correlation id to quote.',
          content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin token may read and write; read tokens may only read. Read routes may be configured open.',
        },
      },
    },
  };
}

function parametersOf(route: Route, location: 'path' | 'query', schema: ObjectSchema | undefined, schemas: Record<string, JsonSchema>): unknown[] {
  const declared = schema === undefined ? undefined : convert(schema, 'input', `${route.operationId}${location === 'path' ? 'Params' : 'Query'}`, schemas);
  const properties = (declared?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((declared?.required ?? []) as string[]);
  const names = location === 'path' ? [...new Set([...pathParameterNames(route.path), ...Object.keys(properties)])] : Object.keys(properties);
  return names.map((name) => {
    const property = properties[name] ?? { type: 'string' };
    const description = typeof property.description === 'string' ? { description: property.description } : {};
    return { name, in: location, required: location === 'path' || required.has(name), ...description, schema: property };
  });
}

function bodySchema(body: NonNullable<Route['body']>, name: string, schemas: Record<string, JsonSchema>): JsonSchema {
  if (isZodSchema(body)) return convert(body, 'input', name, schemas);
  return (body.jsonSchema as JsonSchema | undefined) ?? { description: 'Validated by the service; see the operation description.' };
}

function acceptsMissing(body: NonNullable<Route['body']>): boolean {
  return isZodSchema(body) && body.safeParse(undefined).success;
}

export function isZodSchema(value: unknown): value is z.ZodType {
  return value instanceof z.ZodType;
}

/**
 * zod → JSON Schema 2020-12 (OpenAPI 3.1's dialect). Definitions zod emits for recursive or
 * shared parts (`$defs`) are moved into `components.schemas` and their `$ref`s rewritten, since
 * `#/...` in an OpenAPI document points at the document root.
 */
function convert(schema: z.ZodType, io: 'input' | 'output', owner: string, schemas: Record<string, JsonSchema>): JsonSchema {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete converted.$schema;
  const definitions = converted.$defs as Record<string, JsonSchema> | undefined;
  delete converted.$defs;
  if (definitions === undefined) return converted;
  const rename = (definition: string): string => `${owner}_${definition.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) =>
        key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')
          ? [key, `#/components/schemas/${rename(inner.slice('#/$defs/'.length))}`]
          : [key, rewrite(inner)],
      ),
    );
  };
  for (const [definition, body] of Object.entries(definitions)) schemas[rename(definition)] = rewrite(body) as JsonSchema;
  return rewrite(converted) as JsonSchema;
}

function problemSchema(): JsonSchema {
  return {
    type: 'object',
    description: 'RFC 9457 problem details.',
    properties: {
      type: { type: 'string', format: 'uri', description: 'https://defib.dev/problems/<code>' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string', description: 'What happened. For 5xx a generic sentence: details stay in the log.' },
      instance: { type: 'string', description: 'The request path.' },
      code: { type: 'string', enum: Object.keys(ERROR_STATUS) as ErrorCode[] },
      correlationId: { type: 'string' },
      issues: {
        type: 'array',
        items: {
          type: 'object',
          properties: { path: { type: 'string', description: 'The field: params.name, query.limit, assemblies[1].image' }, message: { type: 'string' } },
          required: ['path', 'message'],
        },
      },
    },
    required: ['type', 'title', 'status', 'detail', 'instance', 'code', 'correlationId'],
  };
}
