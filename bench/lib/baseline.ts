import path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './fixture.js';

const SCRIPT = path.join(REPO_ROOT, 'bench/baseline/plain-cli.sh');

export interface BaselineDeploy {
  deploy: string;
  container: string;
  namespace: string;
  /** Fake API server (curl) … */
  api?: { url: string; token: string };
  /** … or a real cluster (kubectl). */
  kubeconfig?: string;
}

/** Runs bench/baseline/plain-cli.sh once; returns milliseconds per step. */
export async function runPlainCli(options: {
  artifact: string;
  context: string;
  image: string;
  compile?: { command: string; cwd: string };
  deploy?: BaselineDeploy;
  /** DOCKER_HOST for the docker CLI (e.g. a counting proxy). */
  dockerHost?: string;
}): Promise<Record<string, number>> {
  const env: Record<string, string> = {};
  if (options.dockerHost) env.DOCKER_HOST = options.dockerHost;
  if (options.compile) Object.assign(env, { COMPILE: options.compile.command, COMPILE_DIR: options.compile.cwd });
  const d = options.deploy;
  if (d) {
    Object.assign(env, { DEPLOY: d.deploy, CONTAINER: d.container, NAMESPACE: d.namespace });
    if (d.api) Object.assign(env, { KUBE_API: d.api.url, KUBE_TOKEN: d.api.token });
    if (d.kubeconfig) env.KUBECONFIG = d.kubeconfig;
  }
  const result = await execa(SCRIPT, [options.artifact, options.context, options.image], { env, timeout: 10 * 60_000 });
  const steps: Record<string, number> = {};
  for (const line of result.stdout.split('\n')) {
    const [name, ms] = line.trim().split(/\s+/);
    if (name && ms) steps[name] = Number(ms);
  }
  return steps;
}
