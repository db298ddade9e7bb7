import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretBoxError } from './secret-box.ts';

describe('secret box', () => {
  const box = new SecretBox(randomBytes(32));

  it('opens what it sealed', () => {
    expect(box.open(box.seal('{"password":"s3cret"}', 'cloud:sim'), 'cloud:sim')).toBe('{"password":"s3cret"}');
  });

  it('never stores the plaintext and never seals twice alike', () => {
    const first = box.seal('s3cret', 'cloud:sim');
    expect(first).not.toContain('s3cret');
    expect(box.seal('s3cret', 'cloud:sim')).not.toBe(first);
  });

  it('refuses a secret sealed for another record', () => {
    expect(() => box.open(box.seal('s3cret', 'cloud:a'), 'cloud:b')).toThrow(SecretBoxError);
  });

  it('refuses a tampered secret or another key', () => {
    const sealed = box.seal('s3cret', 'cloud:sim');
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(() => box.open(tampered, 'cloud:sim')).toThrow(SecretBoxError);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'cloud:sim')).toThrow(SecretBoxError);
  });

  it('wants a 32-byte key', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('32 bytes');
  });
});
