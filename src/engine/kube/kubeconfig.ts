import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import type { ResolvedConfig } from '../config/resolved.js';
import { StageError } from '../stages/stage.js';

/**
 * Kubeconfig resolution the way kubectl does it: an explicit file (kubernetes.kubeconfig), else the
 * KUBECONFIG list merged with "first file to define a name wins" (client-node's own merge throws on
 * duplicates, which kubectl tolerates), else ~/.kube/config. The context is kubernetes.context or
 * the first current-context found.
 */

export interface LoadedKubeConfig {
  kc: KubeConfig;
  context: string;
  /** The cluster's API server URL (for messages). */
  server: string;
  files: string[];
}

export interface KubeConfigEnv {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
}

export function kubeconfigFiles(k8s: ResolvedConfig['kubernetes'], root: string, where: KubeConfigEnv = {}): string[] {
  const env = where.env ?? process.env;
  const home = where.homeDir ?? os.homedir();
  const expand = (p: string) => path.resolve(root, p.startsWith('~/') ? path.join(home, p.slice(2)) : p);
  if (k8s.kubeconfig) return [expand(k8s.kubeconfig)];
  const list = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  if (list.length) return list.map(expand);
  return [path.join(home, '.kube', 'config')];
}

export function loadKubeConfig(k8s: ResolvedConfig['kubernetes'], root: string, where: KubeConfigEnv = {}): LoadedKubeConfig {
  const candidates = kubeconfigFiles(k8s, root, where);
  const files = candidates.filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new StageError(`No kubeconfig found (looked at ${candidates.join(', ')}).`, {
      hint: 'Create a local cluster (kind create cluster, k3d cluster create, minikube start) or set KUBECONFIG / kubernetes.kubeconfig in tightloop.yaml.',
    });
  }
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let currentContext = '';
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new StageError(`The kubeconfig ${file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    const addNew = <T extends { name: string }>(into: T[], items: T[]) => {
      for (const item of items) if (!into.some((x) => x.name === item.name)) into.push(item);
    };
    addNew(clusters, one.getClusters());
    addNew(users, one.getUsers());
    addNew(contexts, one.getContexts());
    currentContext ||= one.getCurrentContext();
  }
  const context = k8s.context ?? currentContext;
  if (!context) {
    throw new StageError(`The kubeconfig (${files.join(', ')}) has no current context.`, {
      hint: `Pick one with kubectl config use-context NAME, or set kubernetes.context in tightloop.yaml (contexts: ${contexts.map((c) => c.name).join(', ') || 'none'}).`,
    });
  }
  if (!contexts.some((c) => c.name === context)) {
    throw new StageError(`Context "${context}" is not defined in ${files.join(', ')}.`, {
      hint: `Available contexts: ${contexts.map((c) => c.name).join(', ') || 'none'}.`,
    });
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters, users, contexts, currentContext: context });
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new StageError(`Context "${context}" refers to a cluster that is not defined in the kubeconfig.`);
  return { kc, context, server, files };
}

export { contextAllowed, refusedContextError } from '../allow-contexts.js';
