import { execa } from 'execa';
import path from 'node:path';
import { readJsonFile } from '../../json-file.js';
import { StageError } from '../../stages/stage.js';
import { oneLine } from '../../text.js';

/** What the engine's X-Registry-Auth header carries. */
export interface AuthConfig {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

export interface RegistryCredentials {
  auth?: AuthConfig;
  /** Where they came from, for messages ("credHelpers: ecr-login", "auths in …", "none"). */
  source: string;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export interface AuthLookup {
  configDir: string;
  env: Record<string, string | undefined>;
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * Credentials for `registry` as the docker CLI finds them in config.json: a per-registry
 * credHelper, else the credsStore, else the inline `auths` entry; none means anonymous.
 */
export async function registryCredentials(registry: string, lookup: AuthLookup): Promise<RegistryCredentials> {
  const file = path.join(lookup.configDir, 'config.json');
  const config = readJsonFile<DockerConfigFile>(file);
  if (!config) return { source: `none (no ${file})` };
  const hub = registry === 'docker.io' || registry === 'index.docker.io';
  const serveraddress = hub ? 'https://index.docker.io/v1/' : registry;

  const helper = config.credHelpers?.[registry] ?? (hub ? config.credHelpers?.['index.docker.io'] : undefined);
  if (helper) {
    const auth = await fromHelper(helper, serveraddress, lookup);
    return { auth, source: `credHelpers "${helper}" in ${file}${auth ? '' : ' (no entry for this registry)'}` };
  }
  if (config.credsStore) {
    const auth = await fromHelper(config.credsStore, serveraddress, lookup);
    if (auth) return { auth, source: `credsStore "${config.credsStore}" in ${file}` };
  }
  const entry = Object.entries(config.auths ?? {}).find(([key]) => normaliseKey(key) === normaliseKey(serveraddress));
  if (entry) {
    const [, value] = entry;
    if (value.identitytoken) return { auth: { identitytoken: value.identitytoken, serveraddress }, source: `auths in ${file}` };
    if (value.auth) {
      const decoded = Buffer.from(value.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new StageError(`the auths entry for ${registry} in ${file} is not base64 of "user:password"`);
      return { auth: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress }, source: `auths in ${file}` };
    }
    if (value.username) return { auth: { username: value.username, password: value.password ?? '', serveraddress }, source: `auths in ${file}` };
  }
  return { source: `none for ${registry} in ${file}` };
}

/** `docker-credential-<name> get`: the server address on stdin, JSON on stdout. */
async function fromHelper(name: string, serveraddress: string, lookup: AuthLookup): Promise<AuthConfig | undefined> {
  const program = `docker-credential-${name}`;
  const result = await execa(program, ['get'], {
    input: serveraddress,
    env: lookup.env,
    extendEnv: false,
    timeout: lookup.timeoutMs,
    cancelSignal: lookup.signal,
    reject: false,
    stripFinalNewline: true,
  });
  if (result.isCanceled) throw lookup.signal.reason;
  if (result.timedOut) throw new StageError(`credential helper ${program} did not answer within ${lookup.timeoutMs / 1000} s`);
  if ((result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(result.message ?? ''))) {
    throw new StageError(`credential helper ${program} (named in ${path.join(lookup.configDir, 'config.json')}) is not installed or not on PATH`, {
      hint: `install ${program} or remove it from the Docker config`,
    });
  }
  const output = result.stdout.trim();
  if (result.exitCode !== 0) {
    if (/credentials not found/i.test(output + result.stderr)) return undefined;
    throw new StageError(`credential helper ${program} failed: ${oneLine(`${output} ${result.stderr}`) || `exit code ${result.exitCode}`}`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(output) as { Username?: string; Secret?: string };
  } catch {
    throw new StageError(`credential helper ${program} printed something that is not JSON`);
  }
  if (!parsed.Secret) return undefined;
  // "<token>" as the user name means the secret is an identity (refresh) token.
  if (parsed.Username === '<token>') return { identitytoken: parsed.Secret, serveraddress };
  return { username: parsed.Username ?? '', password: parsed.Secret, serveraddress };
}

function normaliseKey(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/(v1|v2)?\/?$/, '').replace(/\/$/, '');
}
