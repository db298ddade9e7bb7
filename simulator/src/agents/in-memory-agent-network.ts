/**
 * An AgentNetwork without a broker: published messages are kept in order, commands are handed to
 * listeners synchronously. For unit tests of the agents and the faults, and for running the
 * simulator where no RabbitMQ is wanted.
 */
import type { AgentLink, AgentNetwork } from './agent-network.ts';

/** A message an agent published. */
export interface PublishedMessage {
  brokerUrl: string;
  exchange: string;
  routingKey: string;
  body: Buffer;
}

export class InMemoryAgentNetwork implements AgentNetwork {
  /** Everything published, oldest first; tests may clear it. */
  readonly published: PublishedMessage[] = [];
  /** While false, every publish is dropped (as while a real link is down). */
  connected = true;
  readonly #listeners = new Map<string, Set<(body: Buffer) => void>>();
  /** Every broker URL an agent linked to: one "connection" each. */
  readonly #brokers = new Set<string>();

  link(brokerUrl: string): AgentLink {
    this.#brokers.add(brokerUrl);
    return {
      publish: (exchange, routingKey, body) => {
        if (!this.connected) return false;
        this.published.push({ brokerUrl, exchange, routingKey, body });
        return true;
      },
      listenForCommands: (exchange, assemblyId, deliver) => {
        const key = `${brokerUrl} ${exchange} ${assemblyId}`;
        let listeners = this.#listeners.get(key);
        if (!listeners) {
          listeners = new Set();
          this.#listeners.set(key, listeners);
        }
        const own = listeners;
        own.add(deliver);
        return () => {
          own.delete(deliver);
          if (own.size === 0 && this.#listeners.get(key) === own) this.#listeners.delete(key);
        };
      },
    };
  }

  /** Delivers a command body to every agent of the assembly listening on that broker and exchange; returns how many got it. */
  deliverCommand(brokerUrl: string, exchange: string, assemblyId: string, body: unknown): number {
    const listeners = [...(this.#listeners.get(`${brokerUrl} ${exchange} ${assemblyId}`) ?? [])];
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    for (const deliver of listeners) deliver(bytes);
    return listeners.length;
  }

  /** The parsed JSON bodies published with a routing key, oldest first. */
  bodies(routingKey: string): unknown[] {
    return this.published.filter((message) => message.routingKey === routingKey).map((message) => JSON.parse(message.body.toString('utf8')) as unknown);
  }

  isConnected(brokerUrl: string): boolean | undefined {
    return this.#brokers.has(brokerUrl) ? this.connected : undefined;
  }

  connectionCount(): { open: number; total: number } {
    return { open: this.connected ? this.#brokers.size : 0, total: this.#brokers.size };
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }
}
