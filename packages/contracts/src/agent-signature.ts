/**
 * Signed agent messages. A VM must never keep another VM "alive" nor command another VM's agent,
 * so every heartbeat, command and reply carries a MAC made with its assembly's own key.
 *
 * **Keys.** An assembly's key is HKDF-SHA256 of the installation secret `DEFIB_AGENT_SECRET`
 * (input keying material), the fixed salt {@link AGENT_KEY_SALT} and the assembly id (info), 32
 * bytes: any service holding the secret derives it on demand, so no key travels in events or is
 * stored per assembly. The VM gets its key (base64) in its agent configuration, in user data.
 *
 * **Canonical bytes.** A signed message is a JSON object whose last member is
 * `"mac":"<43 base64url characters>"`. The MAC is HMAC-SHA256, under the assembly's key, of the
 * message's exact UTF-8 bytes with that last member removed — the text up to the comma before
 * `"mac"`, followed by `}`. Signing appends the member to the JSON text; verifying hashes the
 * bytes as received. Nothing is re-serialised on either side, so the MAC cannot depend on key
 * order or number formatting, and the hot path stays a string concatenation and one HMAC.
 */
import { createHmac, createSecretKey, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** Bytes of an assembly's key. */
export const AGENT_KEY_BYTES = 32;
/** HKDF salt of agent keys; changing it changes every key (a protocol version's business). */
export const AGENT_KEY_SALT = 'defib/agent-key/v1';

const MAC_MEMBER = ',"mac":"';
/** base64url of a 32-byte HMAC-SHA256, unpadded. */
const MAC_CHARS = 43;
/** `,"mac":"` + MAC + `"}`. */
const SIGNATURE_SUFFIX_BYTES = MAC_MEMBER.length + MAC_CHARS + 2;
const MAC_MEMBER_BYTES = Buffer.from(MAC_MEMBER);
const CLOSING_BRACE = Buffer.from('}');

/** An assembly's key, ready for HMAC. */
export type AgentKey = KeyObject;

/** Derives an assembly's key from the installation secret (HKDF-SHA256, see the module comment). */
export function deriveAgentKey(secret: Uint8Array, assemblyId: string): AgentKey {
  if (secret.length < AGENT_KEY_BYTES) throw new RangeError(`the agent secret must be at least ${AGENT_KEY_BYTES} bytes`);
  return createSecretKey(Buffer.from(hkdfSync('sha256', secret, AGENT_KEY_SALT, assemblyId, AGENT_KEY_BYTES)));
}

/** The key as the agent configuration carries it (base64). */
export function encodeAgentKey(key: AgentKey): string {
  return key.export().toString('base64');
}

/** The key from its base64 form in an agent configuration. */
export function decodeAgentKey(text: string): AgentKey {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== AGENT_KEY_BYTES) throw new RangeError(`an agent key is ${AGENT_KEY_BYTES} bytes`);
  return createSecretKey(bytes);
}

/**
 * Signs the JSON text of a message object that has no `mac` yet: returns the message's bytes with
 * the `mac` member appended.
 */
export function signAgentJson(json: string, key: AgentKey): Buffer {
  if (!json.endsWith('}')) throw new TypeError('only a JSON object can be signed');
  const mac = createHmac('sha256', key).update(json).digest('base64url');
  return Buffer.from(`${json.slice(0, -1)}${MAC_MEMBER}${mac}"}`);
}

/** Signs a message object (without its `mac`): its JSON bytes with the `mac` member appended. */
export function signAgentMessage(message: object, key: AgentKey): Buffer {
  return signAgentJson(JSON.stringify(message), key);
}

/**
 * Whether `body` carries, as its last member, a MAC made with `key` over its canonical bytes.
 * False for a missing, misplaced or wrong MAC; never throws.
 */
export function verifyAgentMessage(body: Uint8Array, key: AgentKey): boolean {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const end = bytes.length - SIGNATURE_SUFFIX_BYTES;
  if (end < 1 || bytes[bytes.length - 1] !== 0x7d || bytes[bytes.length - 2] !== 0x22) return false;
  if (!bytes.subarray(end, end + MAC_MEMBER.length).equals(MAC_MEMBER_BYTES)) return false;
  const expected = createHmac('sha256', key).update(bytes.subarray(0, end)).update(CLOSING_BRACE).digest('base64url');
  return timingSafeEqual(Buffer.from(expected), bytes.subarray(end + MAC_MEMBER.length, bytes.length - 2));
}
