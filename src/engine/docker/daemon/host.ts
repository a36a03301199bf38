import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DockerOptions } from 'dockerode';
import { readJsonFile } from '../../json-file.js';
import { StageError } from '../../stages/stage.js';

/** Where the Docker engine is, and why we think so (shown in errors and doctor output). */
export interface DockerEndpoint {
  /** e.g. unix:///var/run/docker.sock, tcp://127.0.0.1:2376. */
  url: string;
  /** e.g. "DOCKER_HOST", "docker context 'colima'", "default socket". */
  source: string;
  /** Options for `new Dockerode(...)`; every field is explicit so dockerode's own env reading never wins. */
  modem: DockerOptions;
  /** Plain HTTP or a unix socket: safe to reuse connections through a keep-alive agent. */
  keepAlive: boolean;
}

type Env = Record<string, string | undefined>;

const DEFAULT_SOCKET = 'unix:///var/run/docker.sock';

export function dockerConfigDir(env: Env, home = os.homedir()): string {
  return env.DOCKER_CONFIG || path.join(home, '.docker');
}

/**
 * Same precedence as the docker CLI: an explicit host (tightloop.yaml docker.host), DOCKER_HOST,
 * DOCKER_CONTEXT, the config's currentContext, then the local socket.
 */
export function resolveDockerEndpoint(configured: string | undefined, env: Env, home = os.homedir()): DockerEndpoint {
  if (configured) return endpointFor(configured, 'docker.host in tightloop.yaml', tlsFromEnv(env, home));
  if (env.DOCKER_HOST) return endpointFor(env.DOCKER_HOST, 'DOCKER_HOST', tlsFromEnv(env, home));

  const configDir = dockerConfigDir(env, home);
  let contextName = env.DOCKER_CONTEXT;
  let contextSource = 'DOCKER_CONTEXT';
  if (!contextName) {
    contextName = readJsonFile<{ currentContext?: string }>(path.join(configDir, 'config.json'))?.currentContext;
    contextSource = `currentContext in ${path.join(configDir, 'config.json')}`;
  }
  if (!contextName || contextName === 'default') return endpointFor(DEFAULT_SOCKET, 'default socket', undefined);

  // Context metadata lives under contexts/meta/<sha256 of the name>/meta.json.
  const id = createHash('sha256').update(contextName).digest('hex');
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  if (!existsSync(metaFile)) {
    throw new StageError(`docker context '${contextName}' (from ${contextSource}) does not exist: no ${metaFile}`, {
      hint: 'run `docker context ls` and `docker context use <name>`, or set DOCKER_HOST',
    });
  }
  const meta = readJsonFile<{ Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } } }>(metaFile);
  const host = meta?.Endpoints?.docker?.Host;
  if (!host) throw new StageError(`docker context '${contextName}' has no Docker endpoint in ${metaFile}`);
  const tlsDir = path.join(configDir, 'contexts', 'tls', id, 'docker');
  const tls = existsSync(tlsDir) ? readTls(tlsDir) : undefined;
  return endpointFor(host, `docker context '${contextName}'`, tls, meta.Endpoints?.docker?.SkipTLSVerify);
}

interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function tlsFromEnv(env: Env, home: string): Tls | undefined {
  if (env.DOCKER_TLS_VERIFY !== '1' && !env.DOCKER_CERT_PATH) return undefined;
  return readTls(env.DOCKER_CERT_PATH || path.join(home, '.docker'));
}

function readTls(dir: string): Tls {
  const read = (name: string) => (existsSync(path.join(dir, name)) ? readFileSync(path.join(dir, name)) : undefined);
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}

function endpointFor(url: string, source: string, tls: Tls | undefined, skipVerify = false): DockerEndpoint {
  const none = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined, timeout: undefined, pathPrefix: undefined };
  if (url.startsWith('unix://') || url.startsWith('npipe://')) {
    const socketPath = url.replace(/^(unix|npipe):\/\//, '');
    return { url, source, modem: { ...none, socketPath } as DockerOptions, keepAlive: true };
  }
  let parsed: URL;
  try {
    parsed = new URL(url.includes('://') ? url : `tcp://${url}`);
  } catch {
    throw new StageError(`Docker host "${url}" (${source}) is not a valid address`, { hint: 'expected unix:///path, tcp://host:port or ssh://user@host' });
  }
  if (parsed.protocol === 'ssh:') {
    return {
      url,
      source,
      modem: { ...none, protocol: 'ssh', host: parsed.hostname, port: parsed.port || 22, username: parsed.username || undefined, sshOptions: {} } as DockerOptions,
      keepAlive: false,
    };
  }
  if (parsed.protocol !== 'tcp:' && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new StageError(`Docker host "${url}" (${source}) uses an unsupported scheme ${parsed.protocol}`);
  }
  const secure = parsed.protocol === 'https:' || !!tls?.cert || parsed.port === '2376';
  return {
    url,
    source,
    modem: {
      ...none,
      host: parsed.hostname,
      port: parsed.port || (secure ? 2376 : 2375),
      protocol: secure ? 'https' : 'http',
      ...(secure && tls && { ca: tls.ca, cert: tls.cert, key: tls.key }),
      ...(secure && skipVerify && { checkServerIdentity: () => undefined }),
    } as DockerOptions,
    keepAlive: !secure,
  };
}
