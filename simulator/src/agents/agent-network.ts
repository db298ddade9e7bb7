/**
 * How simulated agents reach a broker. Real agents each hold a connection; simulated ones share a
 * few (see amqp-agent-network.ts), so an agent only sees a link: publish a message, listen for
 * the commands of its assembly. Messages on a link are best-effort, like a real network: while the
 * link is down or congested they are lost, and nothing is retried.
 */

/** One agent's way to the broker (shared with other agents behind the scenes). */
export interface AgentLink {
  /** Publishes a transient message on a topic exchange; false when it was dropped (link down or congested). */
  publish(exchange: string, routingKey: string, body: Buffer): boolean;
  /** Delivers the bodies of messages sent to `command.<assemblyId>` on `exchange`; returns the unsubscribe. */
  listenForCommands(exchange: string, assemblyId: string, deliver: (body: Buffer) => void): () => void;
}

/** Where links come from: one shared pool per broker URL. */
export interface AgentNetwork {
  /** The link for one agent (booted VM) talking to `brokerUrl`. */
  link(brokerUrl: string): AgentLink;
  /** Called around each batch of heartbeats, so transports can coalesce their writes. */
  beginBatch?(): void;
  endBatch?(): void;
  /** Whether agents talking to `brokerUrl` can reach it now; undefined when no agent ever asked for it. */
  isConnected?(brokerUrl: string): boolean | undefined;
  /** Connections to brokers: how many are up, of how many opened. */
  connectionCount?(): { open: number; total: number };
  /** Closes every connection. */
  close(): Promise<void>;
}
