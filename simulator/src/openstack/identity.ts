/**
 * Keystone's state: users with their projects and roles, and issued tokens. Tokens expire by the
 * injected clock. Ids derive from the seed; token strings come from their own stream so issuing
 * tokens never shifts anything else.
 */
import type { Clock } from '@defib/platform';
import type { SeededRandom } from '@defib/platform';

/** A user as configured. */
export interface UserConfig {
  name: string;
  password: string;
  /** Domain name; `Default` when absent. */
  domain?: string;
  /** Projects the user may scope to, each with the user's roles there. */
  projects: { name: string; roles: string[] }[];
}

/** A Keystone reference: id and name. */
export interface IdentityRef {
  id: string;
  name: string;
}

export interface Project extends IdentityRef {
  domain: IdentityRef;
}

export interface User extends IdentityRef {
  domain: IdentityRef;
  password: string;
  projects: { project: Project; roles: IdentityRef[] }[];
}

/** An issued token. */
export interface Token {
  readonly id: string;
  readonly user: User;
  /** Null for an unscoped token. */
  readonly project: Project | null;
  readonly roles: IdentityRef[];
  readonly methods: string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly auditId: string;
}

/** How a client identified the user: by id, or by name within a domain (by id or name). */
export interface UserSelector {
  id?: string | undefined;
  name?: string | undefined;
  domain?: { id?: string | undefined; name?: string | undefined } | undefined;
}

/** How a client asked to scope: a project by id, or by name within a domain. */
export type ProjectSelector = UserSelector;

/** The user DevStack creates, which the brief makes the simulator's default. */
export const defaultUsers: UserConfig[] = [{ name: 'admin', password: 'secret', projects: [{ name: 'admin', roles: ['admin', 'member', 'reader'] }] }];

export class Identity {
  readonly #clock: Clock;
  readonly #tokenStream: SeededRandom;
  readonly #ttlMs: number;
  readonly #users: User[];
  readonly #domains = new Map<string, IdentityRef>();
  readonly #tokens = new Map<string, Token>();

  constructor(options: { users: UserConfig[]; clock: Clock; random: SeededRandom; tokenTtlMs: number }) {
    this.#clock = options.clock;
    this.#ttlMs = options.tokenTtlMs;
    this.#tokenStream = options.random.fork('tokens');
    const ids = options.random.fork('ids');
    const roles = new Map<string, IdentityRef>();
    const projects = new Map<string, Project>();
    this.#domains.set('Default', { id: 'default', name: 'Default' });
    this.#users = options.users.map((config) => {
      const domainName = config.domain ?? 'Default';
      let domain = this.#domains.get(domainName);
      if (!domain) {
        domain = { id: ids.hex(32), name: domainName };
        this.#domains.set(domainName, domain);
      }
      const userDomain = domain;
      return {
        id: ids.hex(32),
        name: config.name,
        domain: userDomain,
        password: config.password,
        projects: config.projects.map((grant) => {
          const key = `${userDomain.name}/${grant.name}`;
          let project = projects.get(key);
          if (!project) {
            project = { id: ids.hex(32), name: grant.name, domain: userDomain };
            projects.set(key, project);
          }
          return {
            project,
            roles: grant.roles.map((name) => {
              let role = roles.get(name);
              if (!role) {
                role = { id: ids.hex(32), name };
                roles.set(name, role);
              }
              return role;
            }),
          };
        }),
      };
    });
  }

  /** The user whose password matches, or undefined (Keystone does not say which part was wrong). */
  authenticate(selector: UserSelector, password: string): User | undefined {
    const user = this.#users.find((candidate) => (selector.id !== undefined ? candidate.id === selector.id : candidate.name === selector.name && this.#inDomain(candidate.domain, selector.domain)));
    return user && user.password === password ? user : undefined;
  }

  /** Issues a token for the user, scoped to a project the user has a role on (or unscoped). */
  issue(user: User, scope: ProjectSelector | null, methods: string[]): Token | undefined {
    let project: Project | null = null;
    let roles: IdentityRef[] = [];
    if (scope) {
      const grant = user.projects.find(({ project: candidate }) => (scope.id !== undefined ? candidate.id === scope.id : candidate.name === scope.name && this.#inDomain(candidate.domain, scope.domain)));
      if (!grant) return undefined;
      project = grant.project;
      roles = grant.roles;
    }
    const now = this.#clock.now();
    const token: Token = { id: `gAAAAA${this.#tokenStream.hex(176)}`, user, project, roles, methods, issuedAt: now, expiresAt: now + this.#ttlMs, auditId: this.#tokenStream.hex(22) };
    this.#tokens.set(token.id, token);
    return token;
  }

  /** A live token, or undefined when unknown, revoked or expired. */
  validate(id: string | undefined): Token | undefined {
    if (id === undefined) return undefined;
    const token = this.#tokens.get(id);
    if (!token) return undefined;
    if (token.expiresAt <= this.#clock.now()) {
      this.#tokens.delete(id);
      return undefined;
    }
    return token;
  }

  /** Revokes a token; returns whether it was live. */
  revoke(id: string): boolean {
    const live = this.validate(id) !== undefined;
    this.#tokens.delete(id);
    return live;
  }

  #inDomain(domain: IdentityRef, selector: UserSelector['domain']): boolean {
    if (!selector) return false;
    return selector.id !== undefined ? selector.id === domain.id : selector.name === domain.name;
  }
}
