/** Defib's HTTP layer: one bootstrap for every service. */
export { createHttpApp, type HttpAppOptions } from './app.ts';
export { startHttpServer, type HttpServerOptions, type RunningHttpServer } from './server.ts';
export { defineRoute, type BodyParser, type HttpMethod, type ResponseSpec, type Route, type RouteDefinition, type RouteInput, type RouteResult } from './route.ts';
export { AppError, ERROR_STATUS, isAppError, type AppErrorOptions, type ErrorCode, type FieldIssue } from './errors.ts';
export { toProblem, toAppError, PROBLEM_CONTENT_TYPE, type Problem, type ProblemDocument } from './problem.ts';
export { createAuthenticator, bearerToken, type AuthContext, type AuthSettings, type Authenticator, type Principal, type RouteScope } from './auth.ts';
export { BODY_MEDIA_TYPES, type BodyFormat, type BodySource } from './body.ts';
export { CORRELATION_HEADER } from './correlation.ts';
export { buildOpenApiDocument, type OpenApiDocument, type OpenApiInfo } from './openapi.ts';
export { type ReadinessCheck } from './readiness.ts';
export { REQUEST_DURATION_METRIC } from './metrics.ts';
export { fieldIssuesFromZod, type InputLocation } from './validation.ts';
export { decodePageCursor, encodePageCursor, pageQueryFields, timestampParameter, type PagePosition } from './page-cursor.ts';
