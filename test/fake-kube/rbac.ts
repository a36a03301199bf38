import { randomBytes } from 'node:crypto';
import type { Store } from './store.js';

/**
 * Service-account tokens (the TokenRequest API) and RBAC authorization for them, as a real API
 * server does it: a request with a token issued for a ServiceAccount acts as
 * `system:serviceaccount:NS:NAME` and is allowed only what the Roles bound to it in the request's
 * namespace grant (rules of apiGroups × resources[/subresource] × verbs; "*" matches anything).
 * The server's own token stays cluster-admin. ClusterRoles are not modelled: a service account
 * gets nothing cluster-scoped.
 */

export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export type User = { admin: true; name: string } | { admin: false; name: string; namespace: string; serviceAccount: string };

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

export class FakeRbac {
  private readonly tokens = new Map<string, { namespace: string; name: string }>();

  constructor(
    private readonly store: Store,
    private readonly adminToken: string,
  ) {}

  /** POST .../serviceaccounts/NAME/token: a bearer token for an existing ServiceAccount. */
  issue(namespace: string, name: string, expirationSeconds = 3600): { token: string; expirationTimestamp: string } | undefined {
    if (!this.store.get('serviceaccounts', namespace, name)) return undefined;
    const token = `sa-${randomBytes(16).toString('hex')}`;
    this.tokens.set(token, { namespace, name });
    return { token, expirationTimestamp: new Date(Date.now() + expirationSeconds * 1000).toISOString() };
  }

  /** Who the Authorization header speaks for; undefined: 401. */
  authenticate(authorization: string | undefined): User | undefined {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token) return undefined;
    if (token === this.adminToken) return { admin: true, name: 'fake-user' };
    const sa = this.tokens.get(token);
    // A token outlives its ServiceAccount nowhere: deleting the account invalidates it.
    if (!sa || !this.store.get('serviceaccounts', sa.namespace, sa.name)) return undefined;
    return { admin: false, name: `system:serviceaccount:${sa.namespace}:${sa.name}`, namespace: sa.namespace, serviceAccount: sa.name };
  }

  allowed(user: User, a: Attributes): boolean {
    if (user.admin) return true;
    if (!a.namespace) return false;
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const bindings = this.store.list('rolebindings', a.namespace).filter((b) =>
      ((b.subjects ?? []) as { kind: string; name: string; namespace?: string }[]).some((s) => s.kind === 'ServiceAccount' && s.name === user.serviceAccount && (s.namespace ?? a.namespace) === user.namespace),
    );
    for (const b of bindings) {
      const ref = b.roleRef as { kind?: string; name?: string } | undefined;
      if (ref?.kind !== 'Role' || !ref.name) continue;
      const role = this.store.get('roles', a.namespace, ref.name);
      for (const rule of (role?.rules ?? []) as Rule[]) {
        if (matches(rule.apiGroups, a.group) && matches(rule.resources, resource) && matches(rule.verbs, a.verb)) return true;
      }
    }
    return false;
  }

  /** The API server's 403 message for a denied request. */
  static forbidden(user: User, a: Attributes): string {
    const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const subject = a.name ? `${a.resource} "${a.name}" is forbidden` : `${a.resource} is forbidden`;
    const where = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
    return `${subject}: User "${user.name}" cannot ${a.verb} resource "${what}" in API group "${a.group}"${where}`;
  }
}

const matches = (list: string[] | undefined, value: string) => (list ?? []).some((x) => x === '*' || x === value);

/** The RBAC verb of a request (as the API server's request-info resolver names it). */
export function verbOf(method: string, named: boolean, query: URLSearchParams): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return query.get('watch') === 'true' || query.get('watch') === '1' ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}
