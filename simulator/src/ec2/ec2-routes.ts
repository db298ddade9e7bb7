/**
 * The EC2 Query API at `/ec2/`: `Action` and parameters from the query string or a form-encoded
 * body, answered in EC2's XML. Any credentials are accepted and signatures are not checked; the
 * region named in a SigV4 credential scope picks the cloud, defaulting to the first EC2 cloud.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import type { Cloud } from '../cloud/cloud.ts';
import { ec2Actions } from './ec2-actions.ts';
import { clientTokensOf } from './ec2-client-tokens.ts';
import type { ClientTokens } from './ec2-client-tokens.ts';
import { Ec2Error, ec2ErrorFromRejection, toEc2Error } from './ec2-errors.ts';
import { Ec2Params } from './ec2-params.ts';
import type { GuestProbe } from './ec2-views.ts';
import { errorXml, responseXml } from './ec2-xml.ts';

/** The region of a SigV4 credential scope (`AKID/date/region/service/aws4_request`). */
function signedRegion(req: Request): string | undefined {
  const scope = /Credential=([^,\s]+)/.exec(req.get('Authorization') ?? '')?.[1] ?? (typeof req.query['X-Amz-Credential'] === 'string' ? req.query['X-Amz-Credential'] : undefined);
  return scope?.split('/')[2];
}

function requestIdOf(res: Response): string {
  return String(res.locals.ec2RequestId);
}

function sendXml(res: Response, status: number, xml: string): void {
  res.status(status).type('text/xml;charset=UTF-8').send(xml);
}

export interface Ec2RouterOptions {
  /** The EC2 clouds (one per region), the first answering requests signed for no known region. */
  readonly clouds: () => readonly Cloud[];
  /** What the instance status check sees of a guest (the agent runtime's snapshots); every guest answers when absent. */
  readonly guests?: GuestProbe;
}

export function createEc2Router(options: Ec2RouterOptions): Router {
  const router = express.Router();
  const clientTokens = new WeakMap<Cloud, ClientTokens>();
  const guests: GuestProbe = options.guests ?? (() => undefined);
  router.use((_req, res, next) => {
    const requestId = randomUUID();
    res.locals.ec2RequestId = requestId;
    res.set('x-amzn-RequestId', requestId);
    next();
  });
  router.use(express.urlencoded({ extended: false, type: () => true, limit: '1mb', parameterLimit: 10_000 }));

  router.all('/', async (req, res) => {
    const clouds = options.clouds();
    const region = signedRegion(req);
    const cloud = clouds.find((candidate) => candidate.region === region) ?? clouds[0];
    if (!cloud) throw new Ec2Error('Unavailable', 'No EC2 region is configured in this simulator.', 503);
    const params = Ec2Params.from(req.query, (req.body ?? {}) as Record<string, unknown>);
    const action = params.get('Action');
    if (action === undefined || action === '') throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    const handler = Object.hasOwn(ec2Actions, action) ? ec2Actions[action] : undefined;
    if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    const rejection = await cloud.admit(action);
    if (rejection) throw ec2ErrorFromRejection(rejection);
    const context = { clientTokens: clientTokensOf(clientTokens, cloud), guests, regions: clouds.map((candidate) => candidate.region) };
    sendXml(res, 200, responseXml(action, requestIdOf(res), handler(params, cloud, context)));
  });

  router.use((_req, _res, next) => next(new Ec2Error('InvalidAction', 'The requested path is not an EC2 endpoint; send Query requests to /ec2/.')));
  const handleError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    const ec2Error = toEc2Error(error);
    sendXml(res, ec2Error.status, errorXml(ec2Error.code, ec2Error.message, requestIdOf(res)));
  };
  router.use(handleError);
  return router;
}
