/**
 * The in-guest agent protocol over RabbitMQ, on the installation's topic exchange
 * `<BUS_PREFIX>.agents` (named by the platform's `busNames`; the agent configuration's `exchange`):
 * - agents publish **heartbeats** (`heartbeat.<assemblyId>`) every `intervalMs`: small JSON,
 *   transient, no publisher confirms (see the brief's measurements: nothing heavier belongs on
 *   this path);
 * - recovery publishes **commands** to one agent (`command.<assemblyId>`) and the agent answers
 *   with a **reply** (`reply.<assemblyId>`) carrying the same `commandId`; a `ping` is answered
 *   with the agent's `bootId`, sequence and every resource's state;
 * - the agent learns where to connect, what to watch and its key from its **agent
 *   configuration**, passed to the VM as user data (base64 JSON).
 *
 * Every heartbeat, command and reply is signed with the assembly's key: its JSON ends with a
 * `mac` member (see agent-signature.ts for the key derivation and the canonical bytes).
 *
 * Times inside agent messages are epoch milliseconds (cheap to produce and compare on the hot
 * path); durations are milliseconds under keys ending in `Ms`.
 */
import { z } from 'zod';
import { addressesSchema } from './address.ts';
import { ContractViolation, decodeJsonBody, parseContract } from './contract-violation.ts';
import { nameSchema } from './name.ts';

/** The agent protocol version every message carries; bumped only for incompatible changes. */
export const AGENT_PROTOCOL_VERSION = 1;

/** Routing key of an assembly's heartbeats. */
export function heartbeatRoutingKey(assemblyId: string): string {
  return `heartbeat.${assemblyId}`;
}

/** Routing key of commands to an assembly's agent. */
export function commandRoutingKey(assemblyId: string): string {
  return `command.${assemblyId}`;
}

/** Routing key of an assembly's agent's replies to commands. */
export function replyRoutingKey(assemblyId: string): string {
  return `reply.${assemblyId}`;
}

const protocolSchema = z.literal(AGENT_PROTOCOL_VERSION);
/** Milliseconds since the Unix epoch. */
const epochMsSchema = z.int().nonnegative();
const positiveMsSchema = z.int().positive();
/** A message's MAC: HMAC-SHA256 under the assembly's key, base64url; always the last member. */
const macSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url HMAC-SHA256');

/** The cloud's id of the VM (Nova server id, EC2 instance id). */
const instanceIdSchema = z.string().min(1).max(255);
/** Changes on every boot of the VM. */
const bootIdSchema = z.string().min(1).max(128);

/** A message as its sender builds it, before signing appends the `mac`. */
export type Unsigned<T> = T extends unknown ? Omit<T, 'mac'> : never;

/** States an agent reports for a resource. */
export const resourceStates = ['running', 'starting', 'stopping', 'stopped', 'failed', 'unknown'] as const;
/** State of a resource as its agent sees it. */
export type ResourceState = (typeof resourceStates)[number];
/** Schema of a {@link ResourceState}. */
export const resourceStateSchema = z.enum(resourceStates);

/** What an agent reports about one resource in a heartbeat. */
export const resourceStatusSchema = z.strictObject({
  name: nameSchema,
  state: resourceStateSchema,
  /** When the resource entered this state (epoch ms). */
  since: epochMsSchema.optional(),
  /** Why, in the agent's words (exit code, failed check output), trimmed to 1 KiB. */
  detail: z.string().max(1024).optional(),
});
/** What an agent reports about one resource. */
export type ResourceStatus = z.output<typeof resourceStatusSchema>;

/**
 * A heartbeat: "this VM's agent is alive, here is what it sees". `bootId` changes on every boot
 * of the VM and `sequence` restarts at 1 with it, so a monitor orders beats by
 * `(bootId, sequence)` and recognises a reboot by a new `bootId`.
 */
export const heartbeatSchema = z.strictObject({
  kind: z.literal('heartbeat'),
  protocol: protocolSchema,
  assemblyId: z.uuid(),
  deployableId: z.uuid(),
  instanceId: instanceIdSchema,
  bootId: bootIdSchema,
  sequence: z.int().positive(),
  /** When the agent sent it (epoch ms, by the VM's clock: compare with care). */
  sentAt: epochMsSchema,
  /** The interval the agent beats at; the monitor's silence threshold is `missed × intervalMs`. */
  intervalMs: positiveMsSchema,
  addresses: addressesSchema,
  resources: z.array(resourceStatusSchema).max(100),
  mac: macSchema,
});
/** A heartbeat from an in-guest agent. */
export type Heartbeat = z.output<typeof heartbeatSchema>;

/** What a command asks an agent to do: to a resource, or `ping` (report on itself). */
export const agentActions = ['restart', 'start', 'stop', 'reconfigure', 'ping'] as const;
/** What a command asks an agent to do. */
export type AgentAction = (typeof agentActions)[number];

const commandFields = {
  kind: z.literal('command'),
  protocol: protocolSchema,
  /** Unique per command; the agent acts on a given id at most once and the reply echoes it. */
  commandId: z.uuid(),
  assemblyId: z.uuid(),
  /** When recovery issued it (epoch ms); an agent refuses a command issued outside its window. */
  issuedAt: epochMsSchema,
  /**
   * How long after `issuedAt` the command stays valid: an agent that receives it later discards it
   * (the sender has given up on it and may be escalating already).
   */
  deadlineMs: positiveMsSchema,
};

/**
 * A command to an agent. `reconfigure` carries the resource's new parameters (all of them, with
 * address references resolved); the other resource actions carry none; `ping` names no resource.
 * The `mac` is last (see agent-signature.ts).
 */
export const agentCommandSchema = z.discriminatedUnion('action', [
  z.strictObject({ ...commandFields, action: z.enum(['restart', 'start', 'stop']), resource: nameSchema, mac: macSchema }),
  z.strictObject({ ...commandFields, action: z.literal('reconfigure'), resource: nameSchema, params: z.record(z.string(), z.string()), mac: macSchema }),
  z.strictObject({ ...commandFields, action: z.literal('ping'), mac: macSchema }),
]);
/** A command to an agent. */
export type AgentCommand = z.output<typeof agentCommandSchema>;

/** What every reply carries: which command of which assembly it answers, from which VM. */
const replyFields = {
  kind: z.literal('reply'),
  protocol: protocolSchema,
  commandId: z.uuid(),
  assemblyId: z.uuid(),
  instanceId: instanceIdSchema,
};

/** An agent's answer to a resource command: whether it worked and the resource's state afterwards. */
export const resourceReplySchema = z
  .strictObject({
    ...replyFields,
    ok: z.boolean(),
    resource: nameSchema,
    /** The resource's state once the command completed (or failed). */
    state: resourceStateSchema,
    /** Why it failed; required when `ok` is false. */
    error: z.string().min(1).max(1024).optional(),
    /** When the agent finished (epoch ms). */
    completedAt: epochMsSchema,
    mac: macSchema,
  })
  .refine((reply) => reply.ok || reply.error !== undefined, { path: ['error'], message: 'is required when ok is false' });
/** An agent's answer to a resource command. */
export type ResourceReply = z.output<typeof resourceReplySchema>;

/**
 * An agent's answer to a `ping`: the boot it is in, its latest heartbeat sequence and every
 * resource's state, as a heartbeat would say, without waiting for one.
 */
export const pingReplySchema = z.strictObject({
  ...replyFields,
  ok: z.literal(true),
  action: z.literal('ping'),
  bootId: bootIdSchema,
  /** The sequence of the agent's latest heartbeat slot (0 before the first). */
  sequence: z.int().nonnegative(),
  resources: z.array(resourceStatusSchema).max(100),
  completedAt: epochMsSchema,
  mac: macSchema,
});
/** An agent's answer to a `ping`. */
export type PingReply = z.output<typeof pingReplySchema>;

/** An agent's answer to a command. */
export const agentReplySchema = z.union([resourceReplySchema, pingReplySchema]);
/** An agent's answer to a command. */
export type AgentReply = ResourceReply | PingReply;

/** Whether a reply answers a `ping`. */
export function isPingReply(reply: AgentReply | Unsigned<AgentReply>): reply is PingReply {
  return 'action' in reply && reply.action === 'ping';
}

/**
 * What an agent needs to start: where the broker is, who it is, what to watch. Passed to the VM as
 * user data (EC2 `UserData`, Nova `user_data`), see {@link encodeAgentConfig}.
 */
export const agentConfigSchema = z.strictObject({
  protocol: protocolSchema,
  /** `amqp://` or `amqps://` URL, with the agent's own broker credentials. */
  brokerUrl: z.url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' }),
  /** The installation's agent exchange, `<BUS_PREFIX>.agents`. */
  exchange: z.string().min(1).max(255),
  deployableId: z.uuid(),
  assemblyId: z.uuid(),
  /** The assembly's own key (base64, 32 bytes), derived from `DEFIB_AGENT_SECRET`: the agent signs and verifies with it. */
  key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a 32-byte key, base64-encoded'),
  /** The assembly's name in its manifest. */
  assembly: nameSchema,
  heartbeatIntervalMs: positiveMsSchema,
  resources: z
    .array(
      z.strictObject({
        name: nameSchema,
        monitorIntervalMs: positiveMsSchema,
        /** How long one check of the resource may take before it counts as failed. */
        monitorTimeoutMs: positiveMsSchema.optional(),
        /** The resource's parameters at launch, address references already resolved. */
        params: z.record(z.string(), z.string()).optional(),
      }),
    )
    .max(100),
});
/** An agent's start-up configuration. */
export type AgentConfig = z.output<typeof agentConfigSchema>;
/** An agent's configuration as a sender writes it. */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** EC2 caps user data at 16 KiB before base64; Nova at 64 KiB after. The stricter one wins. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

/**
 * Validates an agent configuration and encodes it as user data: JSON, then base64 — what EC2's
 * `UserData` expects and what Nova's `user_data` takes. Throws a {@link ContractViolation} if the
 * configuration is invalid or too large for user data.
 */
export function encodeAgentConfig(config: AgentConfigInput): string {
  const json = JSON.stringify(parseContract('agent config', agentConfigSchema, config));
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > MAX_USER_DATA_BYTES) {
    throw new ContractViolation('agent config', [{ path: '', message: `is ${bytes.length} bytes of JSON; user data allows ${MAX_USER_DATA_BYTES}` }]);
  }
  return bytes.toString('base64');
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Reads an agent configuration from user data: base64 JSON as {@link encodeAgentConfig} writes
 * it, or plain JSON. Throws a {@link ContractViolation} for anything else.
 */
export function decodeAgentConfig(userData: string): AgentConfig {
  const text = userData.trim();
  let json = text;
  if (!text.startsWith('{')) {
    const compact = text.replace(/\s+/g, '');
    if (compact === '' || compact.length % 4 !== 0 || !base64Pattern.test(compact)) {
      throw new ContractViolation('agent config', [{ path: '', message: 'is neither base64 nor JSON' }]);
    }
    json = Buffer.from(compact, 'base64').toString('utf8');
  }
  return parseContract('agent config', agentConfigSchema, decodeJsonBody('agent config', json));
}

/** Parses a heartbeat from a message body (bytes, JSON text or a decoded value); throws a {@link ContractViolation}. */
export function parseHeartbeat(raw: unknown): Heartbeat {
  return parseContract('heartbeat', heartbeatSchema, decodeJsonBody('heartbeat', raw));
}

/** Parses an agent command from a message body; throws a {@link ContractViolation}. */
export function parseAgentCommand(raw: unknown): AgentCommand {
  return parseContract('agent command', agentCommandSchema, decodeJsonBody('agent command', raw));
}

/** Parses an agent reply from a message body; throws a {@link ContractViolation}. */
export function parseAgentReply(raw: unknown): AgentReply {
  const value = decodeJsonBody('agent reply', raw);
  // Chosen by `action` rather than by trying both, so a violation names the field at fault.
  const pings = typeof value === 'object' && value !== null && (value as { action?: unknown }).action === 'ping';
  return pings ? parseContract('agent reply', pingReplySchema, value) : parseContract('agent reply', resourceReplySchema, value);
}
