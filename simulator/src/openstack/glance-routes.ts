/** Glance v2, read-only: version discovery and images list/show for one OpenStack cloud. */
import express from 'express';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import type { Cloud, Image } from '../cloud/cloud.ts';
import { isoSeconds, origin } from './endpoints.ts';
import type { Identity } from './identity.ts';
import { KeystoneError, sendKeystoneError } from './keystone-routes.ts';

/** A Glance error, rendered as webob renders HTTP errors for JSON clients. */
export class GlanceError extends Error {
  readonly status: number;
  readonly title: string;
  constructor(status: number, title: string, message: string) {
    super(message);
    this.name = 'GlanceError';
    this.status = status;
    this.title = title;
  }
}

function sendGlanceError(res: Response, error: GlanceError): void {
  res.status(error.status).json({ message: error.message, code: `${error.status} ${error.title}`, title: error.title });
}

function versions(req: Request): object {
  const href = `${origin(req)}${req.baseUrl}/v2/`;
  return { versions: ['v2.16', 'v2.15', 'v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'].map((id, index) => ({ id, status: index === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }] })) };
}

function imageDocument(image: Image, ownerId: string): object {
  return {
    id: image.id,
    name: image.name,
    status: 'active',
    visibility: 'public',
    protected: false,
    os_hidden: false,
    container_format: 'bare',
    disk_format: 'qcow2',
    min_disk: image.minDiskGb,
    min_ram: image.minRamMb,
    size: image.sizeBytes,
    virtual_size: null,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    owner: ownerId,
    created_at: isoSeconds(image.createdAt),
    updated_at: isoSeconds(image.createdAt),
    tags: [],
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export function createGlanceRouter(options: { cloud: Cloud; identity: Identity }): Router {
  const { cloud, identity } = options;
  const router = express.Router();
  router.get(['/', '/versions'], (req, res) => {
    res.status(req.path === '/' ? 300 : 200).json(versions(req));
  });

  const authenticated = (req: Request): string => {
    const token = identity.validate(req.get('X-Auth-Token'));
    if (!token) throw new KeystoneError(401, 'Unauthorized', 'The request you have made requires authentication.');
    return token.project?.id ?? '';
  };
  const admit = async (operation: string): Promise<void> => {
    const rejection = await cloud.admit(operation);
    if (!rejection) return;
    if (rejection.kind === 'throttled') throw new GlanceError(429, 'Too Many Requests', 'This request was rate-limited.');
    throw new GlanceError(rejection.kind === 'unavailable' ? 503 : 500, rejection.kind === 'unavailable' ? 'Service Unavailable' : 'Internal Server Error', rejection.message);
  };

  router.get('/v2/images', async (req, res) => {
    const owner = authenticated(req);
    await admit('images.list');
    const name = typeof req.query.name === 'string' ? req.query.name : undefined;
    const marker = typeof req.query.marker === 'string' ? req.query.marker : undefined;
    const limitText = typeof req.query.limit === 'string' ? req.query.limit : undefined;
    const limit = limitText === undefined ? 25 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) throw new GlanceError(400, 'Bad Request', 'limit param must be an integer');
    let images = cloud.images.filter((image) => name === undefined || image.name === name);
    if (marker !== undefined) {
      const index = images.findIndex((image) => image.id === marker);
      if (index < 0) throw new GlanceError(400, 'Bad Request', `marker ${marker} could not be found.`);
      images = images.slice(index + 1);
    }
    const page = images.slice(0, limit);
    const last = page.at(-1);
    const body: Record<string, unknown> = { images: page.map((image) => imageDocument(image, owner)), first: '/v2/images', schema: '/v2/schemas/images' };
    if (last && images.length > page.length) body.next = `/v2/images?marker=${last.id}&limit=${limit}`;
    res.json(body);
  });

  router.get('/v2/images/:id', async (req, res) => {
    const owner = authenticated(req);
    await admit('images.show');
    const image = cloud.images.find((candidate) => candidate.id === req.params.id);
    if (!image) throw new GlanceError(404, 'Not Found', `No image found with ID ${req.params.id}`);
    res.json(imageDocument(image, owner));
  });

  router.use((_req, _res, next) => next(new GlanceError(404, 'Not Found', 'The resource could not be found.')));
  const handleError: ErrorRequestHandler = (error: unknown, req, res, _next) => {
    if (error instanceof KeystoneError) return sendKeystoneError(res, req, error);
    if (error instanceof GlanceError) return sendGlanceError(res, error);
    sendGlanceError(res, new GlanceError(500, 'Internal Server Error', 'The server has either erred or is incapable of performing the requested operation.'));
  };
  router.use(handleError);
  return router;
}
