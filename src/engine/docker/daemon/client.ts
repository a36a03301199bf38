import Docker from 'dockerode';
import http from 'node:http';
import { StageError } from '../../stages/stage.js';
import { bounded, raceAbort } from '../abort.js';
import { oneLine } from '../../text.js';
import type { DockerEndpoint } from './host.js';
import type { DockerTimeouts } from '../options.js';
import { formatDuration } from '../../../shared/format.js';

interface EngineFailure {
  code?: string;
  statusCode?: number;
  message?: string;
  json?: { message?: string } | null;
}

/**
 * A dockerode instance plus the two things it lacks: a deadline on every call, and failures
 * turned into one sentence that names the engine address and where it came from.
 */
export class DockerClient {
  readonly docker: Docker;
  private readonly agent: http.Agent | undefined;

  constructor(
    readonly endpoint: DockerEndpoint,
    readonly timeouts: DockerTimeouts,
  ) {
    // One keep-alive socket serves the many small calls of a run (inspect, tag, list, ping).
    this.agent = endpoint.keepAlive ? new http.Agent({ keepAlive: true }) : undefined;
    try {
      this.docker = new Docker({ ...endpoint.modem, ...(this.agent && { agent: this.agent }) });
    } catch (error) {
      throw new StageError(`cannot use the Docker host ${endpoint.url} (${endpoint.source}): ${oneLine((error as Error).message)}`);
    }
  }

  /** One short API call, bounded by `ms`; any failure becomes a StageError (cancellation passes through). */
  async api<T>(what: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<T>, ms = this.timeouts.apiMs): Promise<T> {
    const limit = bounded(signal, ms);
    try {
      return await raceAbort(call(limit.signal), limit.signal);
    } catch (error) {
      if (signal.aborted) throw error;
      if (limit.timedOut()) {
        throw new StageError(`Docker engine at ${this.endpoint.url} did not answer within ${formatDuration(ms)} (${what})`, {
          hint: `the engine (${this.endpoint.source}) may be frozen or overloaded; check \`docker info\``,
        });
      }
      throw this.failure(error, what);
    }
  }

  async ping(signal: AbortSignal, ms = this.timeouts.pingMs): Promise<void> {
    await this.api('ping', signal, (s) => this.get('/_ping', s), ms);
  }

  async version(signal: AbortSignal): Promise<Docker.DockerVersion> {
    return this.api('version', signal, (s) => this.get<Docker.DockerVersion>('/version', s));
  }

  /** Image inspect, or undefined when the engine says it does not exist. */
  async inspectImage(ref: string, signal: AbortSignal): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.api(`inspect ${ref}`, signal, (s) => this.get<Docker.ImageInspectInfo>(`/images/${ref}/json`, s, { 404: 'no such image' }));
    } catch (error) {
      if (error instanceof StageError && (error.options.cause as EngineFailure | undefined)?.statusCode === 404) return undefined;
      throw error;
    }
  }

  /** A GET through dockerode's modem, which (unlike some dockerode helpers) always honours the signal. */
  private get<T = unknown>(path: string, signal: AbortSignal, statusCodes: Record<number, string> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const modem = this.docker.modem as { dial(options: object, callback: (error: unknown, data: T) => void): void };
      modem.dial({ path, method: 'GET', abortSignal: signal, statusCodes: { 200: true, 500: 'server error', ...statusCodes } }, (error, data) =>
        error ? reject(error) : resolve(data),
      );
    });
  }

  /** Turns a transport or engine error into one sentence. */
  failure(error: unknown, what: string): StageError {
    const e = (error ?? {}) as EngineFailure;
    const { url, source } = this.endpoint;
    const where = `${url} (${source})`;
    const down = { hint: 'start Docker (or point DOCKER_HOST / the docker context at a running engine) and run again', cause: error };
    switch (e.code) {
      case 'ENOENT':
        return new StageError(`Docker engine is not running: there is no socket at ${url.replace(/^unix:\/\//, '')} (${source})`, down);
      case 'ECONNREFUSED':
        return new StageError(`Docker engine is not running: nothing accepts connections at ${where}`, down);
      case 'EACCES':
      case 'EPERM':
        return new StageError(`permission denied opening the Docker socket ${where}`, {
          hint: 'add your user to the docker group (then log in again) or use a rootless engine',
          cause: error,
        });
      case 'ECONNRESET':
      case 'EPIPE':
        return new StageError(`Docker engine at ${where} closed the connection during ${what} (it stopped or restarted)`, down);
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'ETIMEDOUT':
      case 'ENOTFOUND':
        return new StageError(`Docker engine at ${where} is unreachable (${e.code})`, down);
      default:
        break; // another code, or none: the message and HTTP status below say more
    }
    if (/socket hang up/i.test(e.message ?? '')) {
      return new StageError(`Docker engine at ${where} closed the connection during ${what} (it stopped or restarted)`, down);
    }
    if (e.statusCode) {
      const said = oneLine(e.json?.message ?? (e.message ?? '').replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, ''));
      return new StageError(`Docker engine refused ${what}: ${said}`, { cause: error });
    }
    if (error instanceof StageError) return error;
    return new StageError(`${what} failed: ${oneLine(e.message ?? String(error))}`, { cause: error });
  }

  /**
   * Opens a long-lived stream (build, push): `signal` stays attached to the request for its whole
   * life, while `openMs` only bounds the wait for the engine's first answer.
   */
  async openStream<T>(what: string, signal: AbortSignal, openMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const opening = new AbortController();
    const timer = setTimeout(() => opening.abort(new Error('open timeout')), openMs);
    const combined = AbortSignal.any([signal, opening.signal]);
    try {
      return await raceAbort(call(combined), combined);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (opening.signal.aborted) {
        throw new StageError(`Docker engine at ${this.endpoint.url} did not start ${what} within ${formatDuration(openMs)}`, {
          hint: `the engine (${this.endpoint.source}) may be frozen or overloaded; check \`docker info\``,
        });
      }
      throw this.failure(error, what);
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    this.agent?.destroy();
  }
}
