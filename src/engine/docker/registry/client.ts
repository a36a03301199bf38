import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { StageError } from '../../stages/stage.js';
import { oneLine } from '../../text.js';
import type { AuthConfig } from './auth.js';
import { registryUrl } from '../reference.js';

export interface RegistryReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the registry root (/v2/…) or an absolute URL (an upload Location, a token realm). */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer, or a stream factory (so a retry after a 401 can send the bytes again) with its length. */
  body?: Buffer | { length: number; open(): Readable };
}

/**
 * The distribution v2 HTTP API for one registry and repository, with Docker's auth dance: a 401
 * with `WWW-Authenticate: Bearer realm=…` gets a token from the realm (basic auth with the stored
 * credentials, or the identity token as an OAuth2 refresh token), `Basic` gets the credentials
 * themselves. Every request is bounded: the caller's signal and an idle-socket timeout.
 */
export class RegistryClient {
  readonly base: string;
  private authorization: string | undefined;
  /** The last challenge answered: a different one (a delete needs another token scope) is answered again. */
  private answered: string | undefined;

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly auth: AuthConfig | undefined,
    private readonly idleMs: number,
  ) {
    this.base = registryUrl(registry);
  }

  /** Sends a request, answering one auth challenge; the reply of any status is returned. */
  async send(request: RegistryRequest, signal: AbortSignal): Promise<RegistryReply> {
    const reply = await this.raw(request, signal, this.authorization);
    const challenge = String(reply.headers['www-authenticate'] ?? '');
    if (reply.status !== 401 || this.answered === challenge) return reply;
    this.answered = challenge;
    this.authorization = await this.answer(challenge, signal);
    if (!this.authorization) return reply;
    return this.raw(request, signal, this.authorization);
  }

  private async answer(challenge: string, signal: AbortSignal): Promise<string | undefined> {
    const scheme = /^\s*(\w+)/.exec(challenge)?.[1]?.toLowerCase();
    const basic = this.auth?.username !== undefined ? `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64')}` : undefined;
    if (scheme === 'basic') return basic;
    if (scheme !== 'bearer') return undefined;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!params.realm) return undefined;
    const scope = params.scope ?? `repository:${this.repository}:pull,push`;
    let reply: RegistryReply;
    if (this.auth?.identitytoken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.auth.identitytoken, service: params.service ?? '', scope, client_id: 'tightloop' });
      reply = await this.raw({ method: 'POST', path: params.realm, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()) }, signal, undefined);
    } else {
      const url = new URL(params.realm);
      if (params.service) url.searchParams.set('service', params.service);
      url.searchParams.set('scope', scope);
      reply = await this.raw({ method: 'GET', path: url.toString() }, signal, basic, true);
    }
    if (reply.status !== 200) {
      throw new StageError(`registry ${this.registry} refused a token: HTTP ${reply.status} from ${params.realm}: ${registryErrorText(reply)}`);
    }
    const parsed = JSON.parse(reply.body.toString('utf8') || '{}') as { token?: string; access_token?: string };
    const token = parsed.token ?? parsed.access_token;
    return token ? `Bearer ${token}` : undefined;
  }

  private raw(request: RegistryRequest, signal: AbortSignal, authorization: string | undefined, toRealm = false): Promise<RegistryReply> {
    const url = new URL(request.path, this.base);
    const transport = url.protocol === 'http:' ? http : https;
    const headers: Record<string, string | number> = { 'user-agent': 'tightloop', ...request.headers };
    // Credentials go to the registry itself and its token realm, never to a redirect elsewhere.
    if (authorization && (toRealm || url.origin === new URL(this.base).origin)) headers.authorization = authorization;
    const body = request.body;
    if (body) headers['content-length'] = body.length;
    return new Promise<RegistryReply>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const req = transport.request(url, { method: request.method, headers, signal, timeout: this.idleMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.idleMs / 1000} s`)));
      req.on('error', (error) => reject(signal.aborted ? signal.reason : error));
      if (!body) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const source = body.open();
        source.on('error', (error) => req.destroy(error));
        // A refused or failed request must not leave the layer's files open.
        req.on('close', () => source.destroy());
        source.pipe(req);
      }
    });
  }
}

/** The first error of a registry's JSON error body ("UNAUTHORIZED: authentication required"), else the HTTP status text. */
export function registryErrorText(reply: RegistryReply): string {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (first) return oneLine(`${first.code ?? ''}: ${first.message ?? ''}`).replace(/^: /, '');
  } catch {
    // not JSON
  }
  return oneLine(reply.body.toString('utf8').slice(0, 200)) || http.STATUS_CODES[reply.status] || `HTTP ${reply.status}`;
}
