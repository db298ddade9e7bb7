/**
 * Query-protocol parameters: flat `Name.N.Member.M` keys as the AWS SDK serializes lists and
 * structures, with typed accessors that raise EC2's own errors.
 */
import { Ec2Error, invalidParameterValue, missingParameter } from './ec2-errors.ts';

/** A filter as `Filter.N.Name` / `Filter.N.Value.M`. */
export interface Ec2Filter {
  name: string;
  values: string[];
}

export class Ec2Params {
  readonly #values: ReadonlyMap<string, string>;

  constructor(values: ReadonlyMap<string, string>) {
    this.#values = values;
  }

  /** From a parsed query string or form body (repeated keys: the last one wins). */
  static from(...sources: Record<string, unknown>[]): Ec2Params {
    const values = new Map<string, string>();
    for (const source of sources) {
      for (const [key, value] of Object.entries(source)) {
        const last = Array.isArray(value) ? (value as unknown[]).at(-1) : value;
        if (typeof last === 'string') values.set(key, last);
      }
    }
    return new Ec2Params(values);
  }

  get(name: string): string | undefined {
    return this.#values.get(name);
  }

  /** Every parameter as `[name, value]`, sorted by name. */
  entries(): [string, string][] {
    return [...this.#values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  required(name: string): string {
    const value = this.get(name);
    if (value === undefined || value === '') throw missingParameter(name);
    return value;
  }

  int(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    if (!/^-?[0-9]+$/.test(value)) throw invalidParameterValue(`Invalid value '${value}' for ${name}.`);
    return Number(value);
  }

  bool(name: string): boolean {
    const value = this.get(name)?.toLowerCase();
    if (value === undefined) return false;
    if (value !== 'true' && value !== 'false') throw invalidParameterValue(`Invalid value '${value}' for ${name}.`);
    return value === 'true';
  }

  /** The members of a list `prefix.1`, `prefix.2`, … in index order. */
  list(prefix: string): string[] {
    return this.#indexed(prefix)
      .map((index) => this.get(`${prefix}.${index}`))
      .filter((value): value is string => value !== undefined);
  }

  /** The structures of a list `prefix.N.*`, each as its own Ec2Params, in index order. */
  structures(prefix: string): Ec2Params[] {
    return this.#indexed(prefix).map((index) => {
      const start = `${prefix}.${index}.`;
      const values = new Map<string, string>();
      for (const [key, value] of this.#values) if (key.startsWith(start)) values.set(key.slice(start.length), value);
      return new Ec2Params(values);
    });
  }

  /** `Filter.N.Name` / `Filter.N.Value.M`. */
  filters(): Ec2Filter[] {
    return this.structures('Filter').map((filter) => {
      const name = filter.get('Name');
      if (name === undefined) throw missingParameter('Filter.Name');
      return { name, values: filter.list('Value') };
    });
  }

  #indexed(prefix: string): number[] {
    const indices = new Set<number>();
    const start = `${prefix}.`;
    for (const key of this.#values.keys()) {
      if (!key.startsWith(start)) continue;
      const index = Number(key.slice(start.length).split('.')[0]);
      if (Number.isInteger(index) && index > 0) indices.add(index);
    }
    return [...indices].sort((a, b) => a - b);
  }
}

/** EC2 filter values: `*` matches any run of characters, `?` one character. */
export function matchesFilterValue(actual: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`).test(actual));
}

const instanceIdPattern = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** Checks instance ids are well formed (InvalidInstanceID.Malformed otherwise). */
export function requireInstanceIds(ids: readonly string[]): readonly string[] {
  for (const id of ids) if (!instanceIdPattern.test(id)) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
  return ids;
}

/** Pagination: `MaxResults` within [min, 1000] and an opaque `NextToken` carrying the offset. */
export function pageOf<T>(items: readonly T[], params: Ec2Params, minimum: number): { page: T[]; nextToken: string | undefined } {
  const maxResults = params.int('MaxResults');
  if (maxResults !== undefined && (maxResults < minimum || maxResults > 1000)) {
    throw invalidParameterValue(`Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value greater than ${minimum - 1}.`);
  }
  const token = params.get('NextToken');
  let offset = 0;
  if (token !== undefined) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^offset:/, ''));
    if (!Number.isInteger(offset) || offset < 0) throw new Ec2Error('InvalidParameterValue', `Invalid value '${token}' for NextToken.`);
  }
  const size = maxResults ?? 1000;
  const page = items.slice(offset, offset + size);
  const nextToken = offset + size < items.length ? Buffer.from(`offset:${offset + size}`).toString('base64url') : undefined;
  return { page, nextToken };
}
