import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXAMPLE = path.join(REPO_ROOT, 'examples/hello-service');

/** Where the cluster lives for a fixture: a kubeconfig the engine (and kubectl) can use. */
export interface KubeTarget {
  kubeconfig: string;
  context: string;
  namespace: string;
}

export interface FixtureOptions {
  /** Folder name under the bench temp root. */
  name: string;
  /** Image repository; omitted = no image/push stages. */
  repository?: string;
  registry?: string;
  /** docker.host (e.g. a counting proxy's socket). */
  dockerHost?: string;
  /** Omitted = no deploy/ready stages. */
  kube?: KubeTarget;
  /** Replace the example's gcc command (e.g. a cheap artifact generator for the soak). */
  compile?: string;
  watch?: { paths: string[]; ignore: string[] };
  /** Only when a suite needs a specific value; otherwise the engine's default applies. */
  quietWindowMs?: number;
  keep?: number;
}

export interface Fixture {
  root: string;
  configFile: string;
  source: string;
  artifact: string;
  stagedBinary: string;
  service: 'hello';
}

/**
 * A private copy of examples/hello-service (sources, Dockerfile, manifest) with its own
 * tightloop.yaml. The example folder itself is shared with other work and is never touched.
 * The `version-check` task is left out: it would add runs that no figure is about.
 */
export async function makeFixture(tmpRoot: string, options: FixtureOptions): Promise<Fixture> {
  const root = path.join(tmpRoot, options.name);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  for (const entry of ['src', 'k8s', 'Dockerfile', '.dockerignore']) {
    await cp(path.join(EXAMPLE, entry), path.join(root, entry), { recursive: true });
  }
  // The manifest must name the bench's repository, or the pushed digest is never injected and a
  // deploy from manifests applies nothing: every save→ready figure would leave the rollout out.
  if (options.repository) {
    const manifest = path.join(root, 'k8s/hello.yaml');
    await writeFile(manifest, (await readFile(manifest, 'utf8')).replaceAll('127.0.0.1:5000/hello:initial', `${options.repository}:initial`));
  }
  const example = (await import('yaml')).parse(await readFile(path.join(EXAMPLE, 'tightloop.yaml'), 'utf8')) as {
    services: { hello: Record<string, unknown> };
  };
  const hello = { ...example.services.hello } as Record<string, unknown>;
  if (options.compile) hello.compile = { ...(hello.compile as object), command: options.compile };
  if (options.watch) hello.watch = options.watch;
  if (options.repository) {
    hello.image = { ...(hello.image as object), repository: options.repository, keep: options.keep ?? 5 };
  } else delete hello.image;
  if (!options.kube) delete hello.deploy;

  const config: Record<string, unknown> = { version: 1 };
  if (options.kube) {
    config.kubernetes = {
      kubeconfig: options.kube.kubeconfig,
      context: options.kube.context,
      allowContexts: [options.kube.context],
      namespace: options.kube.namespace,
    };
  }
  if (options.repository) {
    config.docker = { registry: options.registry ?? '127.0.0.1:5000', delivery: 'push', ...(options.dockerHost && { host: options.dockerHost }) };
  }
  if (options.quietWindowMs !== undefined) config.settings = { quietWindowMs: options.quietWindowMs };
  config.services = { hello };
  const configFile = path.join(root, 'tightloop.yaml');
  await writeFile(configFile, stringify(config));
  return {
    root,
    configFile,
    source: path.join(root, 'src/main.c'),
    artifact: path.join(root, 'build/hello'),
    stagedBinary: path.join(root, 'build_artifacts/hello'),
    service: 'hello',
  };
}

/** The example's source with a marker compiled into the greeting, so a binary shows which save it came from. */
export async function sourceWithMarker(marker: string): Promise<string> {
  const text = await readFile(path.join(EXAMPLE, 'src/main.c'), 'utf8');
  return text.replace(/#define GREETING "([^"]*)"/, `#define GREETING "$1 ${marker}"`);
}
