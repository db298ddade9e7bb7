/**
 * EC2's XML dialect: elements in the order given, lists as `<item>` children, empty lists as
 * self-closing elements, absent values left out. Responses carry the 2016-11-15 namespace.
 */

export const ec2Namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** A value EC2 XML can hold: objects become elements, arrays become `<item>` lists. */
export type XmlValue = string | number | boolean | null | undefined | readonly XmlValue[] | { readonly [name: string]: XmlValue };

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** Escapes text content (EC2 leaves quotes and apostrophes literal in messages). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (char) => escapes[char] ?? char);
}

function element(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return `<${name}>${escapeXml(String(value))}</${name}>`;
  if (isList(value)) return value.length === 0 ? `<${name}/>` : `<${name}>${value.map((item) => element('item', item)).join('')}</${name}>`;
  return `<${name}>${children(value)}</${name}>`;
}

function isList(value: XmlValue): value is readonly XmlValue[] {
  return Array.isArray(value);
}

function children(value: { readonly [name: string]: XmlValue }): string {
  return Object.entries(value)
    .map(([name, child]) => element(name, child))
    .join('');
}

/** A whole response document: `<{action}Response xmlns=…><requestId>…</requestId>…</…>`. */
export function responseXml(action: string, requestId: string, body: { readonly [name: string]: XmlValue }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${ec2Namespace}"><requestId>${escapeXml(requestId)}</requestId>${children(body)}</${action}Response>`;
}

/** An error document as EC2 writes it (no namespace, `RequestID` spelled so). */
export function errorXml(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${escapeXml(requestId)}</RequestID></Response>`;
}
