/**
 * Refuses replayed agent messages. A genuine heartbeat cannot be forged without the assembly's
 * key, but one captured on the wire could be sent again to keep a dead VM "alive"; so a receiver
 * accepts a heartbeat only if it is fresh (`sentAt` within a window of the receiver's process
 * clock) and newer than the last one it accepted from that assembly: a higher `sequence` in the
 * same boot, or a new `bootId` sent later than the last accepted beat.
 */

/** Why a message was refused; `undefined` from {@link AgentReplayGuard.admit} means accepted. */
export type ReplayVerdict = 'replayed' | 'stale' | undefined;

export interface ReplayGuardOptions {
  /** How far `sentAt` may lie from the receiver's clock, either way (VM clocks drift). */
  windowMs: number;
}

interface LastAccepted {
  bootId: string;
  sequence: number;
  sentAt: number;
}

export class AgentReplayGuard {
  readonly #windowMs: number;
  readonly #last = new Map<string, LastAccepted>();

  constructor(options: ReplayGuardOptions) {
    this.#windowMs = options.windowMs;
  }

  /** Whether a message sent at `sentAt` is fresh at `now`. */
  fresh(sentAt: number, now: number): boolean {
    return Math.abs(now - sentAt) <= this.#windowMs;
  }

  /** Admits a heartbeat (remembering it) or says why not. */
  admit(assemblyId: string, beat: { bootId: string; sequence: number; sentAt: number }, now: number): ReplayVerdict {
    if (!this.fresh(beat.sentAt, now)) return 'stale';
    const last = this.#last.get(assemblyId);
    if (last !== undefined) {
      if (beat.bootId === last.bootId ? beat.sequence <= last.sequence : beat.sentAt <= last.sentAt) return 'replayed';
    }
    if (last === undefined) this.#last.set(assemblyId, { bootId: beat.bootId, sequence: beat.sequence, sentAt: beat.sentAt });
    else {
      last.bootId = beat.bootId;
      last.sequence = beat.sequence;
      last.sentAt = beat.sentAt;
    }
    return undefined;
  }

  /** Forgets an assembly (deleted): its next beat is judged by freshness alone. */
  forget(assemblyId: string): void {
    this.#last.delete(assemblyId);
  }
}
