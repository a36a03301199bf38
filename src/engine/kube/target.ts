import type { ResolvedConfig } from '../config/resolved.js';
import { contextAllowed, loadKubeConfig, type KubeConfigEnv } from './kubeconfig.js';

/** Where deploys would go, read from the kubeconfig without contacting the cluster. */
export interface ClusterTarget {
  /** The context deploys use; undefined when there is no usable kubeconfig. */
  context?: string;
  namespace: string;
  /** The context matches kubernetes.allowContexts (false when there is no context). */
  allowed: boolean;
  server?: string;
  /** Why there is no usable context (no kubeconfig, unknown context…). */
  problem?: string;
}

/**
 * The header of editors' service views: cheap (reads files only), so it can be computed on every
 * config load. The deploy stage applies the same allow-list before any write.
 */
export function clusterTarget(config: ResolvedConfig, where: KubeConfigEnv = {}): ClusterTarget {
  const namespace = config.kubernetes.namespace;
  try {
    const loaded = loadKubeConfig(config.kubernetes, config.root, where);
    return { context: loaded.context, namespace, server: loaded.server, allowed: contextAllowed(loaded.context, config.kubernetes.allowContexts) };
  } catch (error) {
    return { namespace, allowed: false, problem: (error as Error).message };
  }
}
