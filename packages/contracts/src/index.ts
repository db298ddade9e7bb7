/**
 * @defib/contracts: everything two parts of Defib must agree on, defined once — the manifest, cloud
 * registrations, the domain-event catalogue and the in-guest agent protocol — with the validators
 * both sides use.
 */
export * from './address.ts';
export * from './agent-protocol.ts';
export * from './agent-signature.ts';
export * from './cloud.ts';
export * from './contract-violation.ts';
export * from './duration.ts';
export * from './events.ts';
export * from './manifest.ts';
export * from './manifest-file.ts';
export * from './name.ts';
export * from './value-shape.ts';
export * from './yaml-document.ts';
export * from './webhook-body.ts';
