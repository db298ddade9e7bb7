import { describe, expect, it } from 'vitest';
import { AgentReplayGuard } from './agent-replay-guard.ts';

const now = Date.UTC(2026, 0, 1);
const assembly = 'a1';

describe('agent replay guard', () => {
  it('admits beats of one boot in rising sequence and refuses one seen again or older', () => {
    const guard = new AgentReplayGuard({ windowMs: 30_000 });
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 1, sentAt: now }, now)).toBeUndefined();
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 3, sentAt: now + 2_000 }, now + 2_000)).toBeUndefined();
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 3, sentAt: now + 2_000 }, now + 2_100)).toBe('replayed');
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 2, sentAt: now + 1_000 }, now + 2_100)).toBe('replayed');
  });

  it('admits a new boot sent later, but not an old boot replayed within the window', () => {
    const guard = new AgentReplayGuard({ windowMs: 30_000 });
    guard.admit(assembly, { bootId: 'b1', sequence: 5, sentAt: now }, now);
    expect(guard.admit(assembly, { bootId: 'b2', sequence: 1, sentAt: now + 1_000 }, now + 1_000)).toBeUndefined();
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 6, sentAt: now + 500 }, now + 1_100)).toBe('replayed');
  });

  it('refuses a beat sent outside the window, either way', () => {
    const guard = new AgentReplayGuard({ windowMs: 30_000 });
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 1, sentAt: now - 30_001 }, now)).toBe('stale');
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 1, sentAt: now + 30_001 }, now)).toBe('stale');
    expect(guard.admit(assembly, { bootId: 'b1', sequence: 1, sentAt: now - 30_000 }, now)).toBeUndefined();
  });

  it('keeps assemblies apart', () => {
    const guard = new AgentReplayGuard({ windowMs: 30_000 });
    guard.admit('a1', { bootId: 'b1', sequence: 9, sentAt: now }, now);
    expect(guard.admit('a2', { bootId: 'b1', sequence: 1, sentAt: now }, now)).toBeUndefined();
  });
});
