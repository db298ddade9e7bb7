/** Glance v2, read-only: version discovery and images list/show for one OpenStack cloud. */
import { createHash } from 'node:crypto';
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { Cloud, Image } from '../cloud/cloud.ts';
import { isoSeconds, origin } from './endpoints.ts';
import type { Identity } from './identity.ts';
import { ServiceError, admitCall, requireToken, serviceErrorHandler } from './service-gate.ts';

/** A Glance error (its kind is the HTTP title), rendered as webob renders HTTP errors for JSON clients. */
function sendGlanceError(res: Response, error: ServiceError): void {
  res.status(error.status).json({ message: error.message, code: `${error.status} ${error.kind}`, title: error.kind });
}

function versions(req: Request): object {
  const href = `${origin(req)}${req.baseUrl}/v2/`;
  // Zed's Glance (25.x): v2.15 current; v2.14 is not listed.
  return { versions: ['v2.15', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'].map((id, index) => ({ id, status: index === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }] })) };
}

function imageDocument(image: Image, ownerId: string): object {
  // A simulated image has no bytes; its checksums are digests of its id, stable and of the real length.
  const digest = (algorithm: string): string => createHash(algorithm).update(image.id).digest('hex');
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
    virtual_size: image.sizeBytes,
    checksum: digest('md5'),
    os_hash_algo: 'sha512',
    os_hash_value: digest('sha512'),
    owner: ownerId,
    created_at: isoSeconds(image.createdAt),
    updated_at: isoSeconds(image.createdAt),
    tags: [],
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
    stores: 'file',
  };
}

export function createGlanceRouter(options: { cloud: Cloud; identity: Identity }): Router {
  const { cloud, identity } = options;
  const router = express.Router();
  router.get(['/', '/versions'], (req, res) => {
    res.status(req.path === '/' ? 300 : 200).json(versions(req));
  });

  const authenticated = (req: Request): string => requireToken(identity, req).project?.id ?? '';
  const admit = (operation: string): Promise<void> => admitCall(cloud, operation, { 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' });

  router.get('/v2/images', async (req, res) => {
    const owner = authenticated(req);
    await admit('images.list');
    const name = typeof req.query.name === 'string' ? req.query.name : undefined;
    const marker = typeof req.query.marker === 'string' ? req.query.marker : undefined;
    const limitText = typeof req.query.limit === 'string' ? req.query.limit : undefined;
    const limit = limitText === undefined ? 25 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) throw new ServiceError(400, 'Bad Request', 'limit param must be an integer');
    let images = cloud.images.filter((image) => name === undefined || image.name === name);
    if (marker !== undefined) {
      const index = images.findIndex((image) => image.id === marker);
      if (index < 0) throw new ServiceError(400, 'Bad Request', `marker ${marker} could not be found.`);
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
    if (!image) throw new ServiceError(404, 'Not Found', `No image found with ID ${req.params.id}`);
    res.json(imageDocument(image, owner));
  });

  router.use((_req, _res, next) => next(new ServiceError(404, 'Not Found', 'The resource could not be found.')));
  router.use(serviceErrorHandler(sendGlanceError, new ServiceError(500, 'Internal Server Error', 'The server has either erred or is incapable of performing the requested operation.')));
  return router;
}
