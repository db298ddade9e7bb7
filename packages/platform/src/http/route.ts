/**
 * Declarative routes: one definition gives the handler its typed, validated input, tells the app
 * who may call it, and is the source the OpenAPI document is generated from.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { AuthContext, RouteScope } from './auth.ts';
import type { BodyFormat, BodySource } from './body.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Path parameters and query strings are described by zod objects. */
export type ObjectSchema = z.ZodObject;

/**
 * How a body is validated: a zod schema, or any parser returning the typed body (for checks a
 * schema cannot express, such as a manifest's `dependsOn` cycles). A parser reports bad input by
 * throwing a zod error or `AppError.validation(issues)`; `jsonSchema` describes it in OpenAPI.
 */
export interface BodyParser<T> {
  parse(raw: unknown): T;
  /**
   * Used instead of `parse` when present: the body's text and format too (it is already known to
   * be well-formed), for parsers whose issues point at lines.
   */
  parseWithSource?(raw: unknown, source: BodySource): T;
  readonly jsonSchema?: object;
}

export interface ResponseSpec {
  readonly description: string;
  /** Documents the body (not enforced at run time). */
  readonly schema?: z.ZodType;
  /** Defaults to `application/json`. */
  readonly contentType?: string;
}

/** What a handler receives: everything validated and typed. */
export interface RouteInput<Params, Query, Body> {
  readonly params: Params;
  readonly query: Query;
  readonly body: Body;
  readonly auth: AuthContext;
  readonly correlationId: string;
  /** The service logger; its lines carry the correlation id. */
  readonly log: Logger;
  /** Request headers, for conditional requests and the like. `authorization` is removed. */
  readonly headers: Readonly<IncomingHttpHeaders>;
}

/** What a handler answers. Bodies are sent as JSON unless `contentType` says otherwise (then a string or Buffer). */
export interface RouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

type Inferred<S, Fallback> = S extends z.ZodType ? z.output<S> : Fallback;

export interface RouteDefinition<P extends ObjectSchema | undefined, Q extends ObjectSchema | undefined, B> {
  readonly method: HttpMethod;
  /** Express path syntax: `/v1/clouds/:name`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly scope: RouteScope;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: BodyParser<B>;
  /** Accepted body formats; JSON only unless the route says so. */
  readonly bodyFormats?: readonly BodyFormat[];
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  handler(
    input: RouteInput<Inferred<P, Readonly<Record<string, string>>>, Inferred<Q, Readonly<Record<string, unknown>>>, B>,
  ): RouteResult | Promise<RouteResult>;
}

/** A route with its types erased, as the app holds it. */
export type Route = RouteDefinition<ObjectSchema | undefined, ObjectSchema | undefined, unknown>;

/** Declares a route; the handler's `params`, `query` and `body` types follow from the schemas. */
export function defineRoute<
  P extends ObjectSchema | undefined = undefined,
  Q extends ObjectSchema | undefined = undefined,
  B = undefined,
>(definition: RouteDefinition<P, Q, B>): Route {
  return definition;
}

/** `/v1/clouds/:name` → `/v1/clouds/{name}` */
export function openApiPath(path: string): string {
  return path.replace(/[:*]([A-Za-z_$][\w$]*)/g, '{$1}');
}

/** The names of a path's parameters, in order. */
export function pathParameterNames(path: string): string[] {
  return [...path.matchAll(/[:*]([A-Za-z_$][\w$]*)/g)].map((match) => match[1] ?? '');
}
