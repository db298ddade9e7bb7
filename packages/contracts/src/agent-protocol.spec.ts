import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  agentConfigSchema,
  commandRoutingKey,
  decodeAgentConfig,
  encodeAgentConfig,
  heartbeatRoutingKey,
  parseAgentCommand,
  parseAgentReply,
  parseHeartbeat,
  replyRoutingKey,
  type AgentCommand,
  type AgentConfigInput,
  type Heartbeat,
  isPingReply,
  type PingReply,
  type ResourceReply,
} from './agent-protocol.ts';
import { ContractViolation } from './contract-violation.ts';

/** A well-formed MAC; these specs are about shapes, agent-signature.spec.ts about MACs. */
const mac = 'm'.repeat(43);

function aHeartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    kind: 'heartbeat',
    protocol: 1,
    assemblyId: randomUUID(),
    deployableId: randomUUID(),
    instanceId: 'i-0123456789abcdef0',
    bootId: 'b6f1c0de-boot',
    sequence: 1,
    sentAt: 1_767_225_600_000,
    intervalMs: 1000,
    addresses: [{ address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 }],
    resources: [{ name: 'mysqld', state: 'running', since: 1_767_225_590_000 }],
    mac,
    ...overrides,
  };
}

function aCommand(overrides: Partial<AgentCommand> = {}): AgentCommand {
  return { kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId: randomUUID(), action: 'restart', resource: 'mysqld', issuedAt: 1_767_225_600_000, deadlineMs: 10_000, mac, ...overrides } as AgentCommand;
}

function aReply(overrides: Partial<ResourceReply> = {}): ResourceReply {
  return { kind: 'reply', protocol: 1, commandId: randomUUID(), assemblyId: randomUUID(), instanceId: 'i-1', ok: true, resource: 'mysqld', state: 'running', completedAt: 1_767_225_601_000, mac, ...overrides };
}

function anAgentConfig(overrides: Partial<AgentConfigInput> = {}): AgentConfigInput {
  return {
    protocol: 1,
    brokerUrl: 'amqp://agent:pw@localhost:5672/defib',
    exchange: 'defib.agents',
    key: Buffer.alloc(32, 7).toString('base64'),
    deployableId: randomUUID(),
    assemblyId: randomUUID(),
    assembly: 'db',
    heartbeatIntervalMs: 1000,
    resources: [{ name: 'mysqld', monitorIntervalMs: 2000, monitorTimeoutMs: 1000, params: { DB_PORT: '3306' } }],
    ...overrides,
  };
}

function violationOf(action: () => unknown): ContractViolation {
  try {
    action();
  } catch (error) {
    if (error instanceof ContractViolation) return error;
    throw error;
  }
  throw new Error('expected a ContractViolation');
}

describe('routing keys', () => {
  it('puts the assembly id after the message kind', () => {
    const id = randomUUID();
    expect(heartbeatRoutingKey(id)).toBe(`heartbeat.${id}`);
    expect(commandRoutingKey(id)).toBe(`command.${id}`);
    expect(replyRoutingKey(id)).toBe(`reply.${id}`);
  });
});

describe('heartbeats', () => {
  it('round-trip through JSON bytes', () => {
    const heartbeat = aHeartbeat();
    expect(parseHeartbeat(Buffer.from(JSON.stringify(heartbeat)))).toEqual(heartbeat);
    expect(parseHeartbeat(JSON.stringify(heartbeat))).toEqual(heartbeat);
  });

  it('stay around the 300–400 bytes the broker measurements assume', () => {
    expect(Buffer.byteLength(JSON.stringify(aHeartbeat()))).toBeLessThan(512);
  });

  it.each([
    ['a sequence of 0', { sequence: 0 }, 'sequence'],
    ['a fractional sequence', { sequence: 1.5 }, 'sequence'],
    ['another protocol', { protocol: 2 }, 'protocol'],
    ['an assembly id that is not a uuid', { assemblyId: 'db' }, 'assemblyId'],
    ['an unknown resource state', { resources: [{ name: 'mysqld', state: 'sleeping' }] }, 'resources[0].state'],
    ['a bad address', { addresses: [{ address: 'nope', type: 'fixed', version: 4 }] }, 'addresses[0].address'],
    ['an unknown field', { cpu: 0.5 }, 'cpu'],
  ])('reject %s', (_, overrides, path) => {
    const violation = violationOf(() => parseHeartbeat({ ...aHeartbeat(), ...overrides }));
    expect(violation.issues.map((issue) => issue.path)).toEqual([path]);
  });

  it('reject garbage', () => {
    expect(() => parseHeartbeat(Buffer.from('\u0000\u0001garbage'))).toThrow(ContractViolation);
    expect(() => parseHeartbeat('[]')).toThrow(ContractViolation);
    expect(() => parseHeartbeat(null)).toThrow(ContractViolation);
    expect(() => parseHeartbeat({ ...aHeartbeat(), kind: 'command' })).toThrow(ContractViolation);
  });
});

describe('agent commands', () => {
  it('round-trip for every action', () => {
    for (const command of [aCommand({ action: 'restart' }), aCommand({ action: 'start' }), aCommand({ action: 'stop' }), aCommand({ action: 'reconfigure', params: { DB_HOST: '10.0.0.9' } })]) {
      expect(parseAgentCommand(JSON.stringify(command))).toEqual(command);
    }
  });

  it('require params for reconfigure and refuse them for other actions', () => {
    expect(violationOf(() => parseAgentCommand(aCommand({ action: 'reconfigure' }))).issues).toEqual([{ path: 'params', message: 'is required' }]);
    expect(violationOf(() => parseAgentCommand({ ...aCommand({ action: 'restart' }), params: { A: 'b' } })).issues).toEqual([{ path: 'params', message: 'unknown field' }]);
  });

  it('ping an agent without naming a resource', () => {
    const ping = { kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId: randomUUID(), action: 'ping', issuedAt: 1_767_225_600_000, deadlineMs: 2_000, mac };
    expect(parseAgentCommand(JSON.stringify(ping))).toEqual(ping);
    expect(violationOf(() => parseAgentCommand({ ...ping, resource: 'mysqld' })).issues).toEqual([{ path: 'resource', message: 'unknown field' }]);
  });

  it('refuse a command without its MAC', () => {
    const { mac: _, ...unsigned } = aCommand();
    expect(violationOf(() => parseAgentCommand(unsigned)).issues.map((issue) => issue.path)).toEqual(['mac']);
  });

  it('reject an unknown action and a non-positive deadline', () => {
    expect(() => parseAgentCommand({ ...aCommand(), action: 'reboot' })).toThrow(ContractViolation);
    expect(violationOf(() => parseAgentCommand(aCommand({ deadlineMs: 0 }))).issues.map((issue) => issue.path)).toEqual(['deadlineMs']);
  });
});

describe('agent replies', () => {
  it('round-trip, successful or not', () => {
    const success = aReply();
    const failure = aReply({ ok: false, state: 'failed', error: 'mysqld exited with status 1' });
    expect(parseAgentReply(JSON.stringify(success))).toEqual(success);
    expect(parseAgentReply(JSON.stringify(failure))).toEqual(failure);
  });

  it('require an error when the command failed', () => {
    expect(violationOf(() => parseAgentReply(aReply({ ok: false, state: 'failed' }))).issues).toEqual([{ path: 'error', message: 'is required when ok is false' }]);
  });

  it('answer a ping with the boot, the sequence and every resource', () => {
    const pong: PingReply = {
      kind: 'reply',
      protocol: 1,
      commandId: randomUUID(),
      assemblyId: randomUUID(),
      instanceId: 'i-1',
      ok: true,
      action: 'ping',
      bootId: 'b6f1c0de-boot',
      sequence: 42,
      resources: [{ name: 'mysqld', state: 'running', since: 1_767_225_590_000 }],
      completedAt: 1_767_225_601_000,
      mac,
    };
    const parsed = parseAgentReply(JSON.stringify(pong));
    expect(parsed).toEqual(pong);
    expect(isPingReply(parsed)).toBe(true);
    expect(isPingReply(aReply())).toBe(false);
    expect(violationOf(() => parseAgentReply({ ...pong, bootId: undefined })).issues.map((issue) => issue.path)).toEqual(['bootId']);
  });

  it('reject garbage', () => {
    expect(() => parseAgentReply('{"kind":"reply"')).toThrow(ContractViolation);
  });
});

describe('agent configuration', () => {
  it('encodes as base64 JSON and decodes back', () => {
    const config = anAgentConfig();
    const userData = encodeAgentConfig(config);
    expect(userData).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(JSON.parse(Buffer.from(userData, 'base64').toString('utf8'))).toMatchObject({ assembly: 'db', exchange: 'defib.agents' });
    expect(decodeAgentConfig(userData)).toEqual(config);
  });

  it("requires the installation's exchange and a 32-byte key", () => {
    const { exchange: _, key: __, ...bare } = anAgentConfig();
    expect(violationOf(() => encodeAgentConfig(bare as AgentConfigInput)).issues.map((issue) => issue.path)).toEqual(['exchange', 'key']);
    expect(violationOf(() => encodeAgentConfig(anAgentConfig({ key: Buffer.alloc(16).toString('base64') }))).issues).toEqual([{ path: 'key', message: 'must be a 32-byte key, base64-encoded' }]);
  });

  it('decodes base64 wrapped over several lines', () => {
    const userData = encodeAgentConfig(anAgentConfig()).replace(/(.{60})/g, '$1\n');
    expect(decodeAgentConfig(userData).assembly).toBe('db');
  });

  it('tolerates plain JSON user data', () => {
    const config = anAgentConfig({ exchange: 'test-agents' });
    expect(decodeAgentConfig(`\n${JSON.stringify(config)}\n`)).toEqual(config);
  });

  it.each([
    ['an empty string', ''],
    ['text that is neither base64 nor JSON', '#!/bin/sh\necho hi'],
    ['base64 of something that is not JSON', Buffer.from('hello world').toString('base64')],
    ['base64 of JSON that is not a config', Buffer.from('{"protocol":1}').toString('base64')],
    ['broken JSON', '{"protocol":'],
  ])('rejects %s with a ContractViolation', (_, userData) => {
    expect(() => decodeAgentConfig(userData)).toThrow(ContractViolation);
  });

  it('accepts amqps and rejects a broker URL of another scheme', () => {
    expect(agentConfigSchema.safeParse(anAgentConfig({ brokerUrl: 'amqps://broker.example.com' })).success).toBe(true);
    expect(violationOf(() => encodeAgentConfig(anAgentConfig({ brokerUrl: 'http://localhost:15672' }))).issues).toEqual([
      { path: 'brokerUrl', message: 'must be an amqp:// or amqps:// URL' },
    ]);
  });

  it('refuses a configuration too large for EC2 user data', () => {
    const resources = Array.from({ length: 100 }, (_, index) => ({ name: `r${index}`, monitorIntervalMs: 1000, params: { BLOB: 'x'.repeat(200) } }));
    expect(() => encodeAgentConfig(anAgentConfig({ resources }))).toThrow(/user data allows 16384/);
  });
});
