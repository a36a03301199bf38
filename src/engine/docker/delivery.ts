import type { ResolvedConfig } from '../config/resolved.js';
import type { ClusterFacts, StageContext } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { bounded, raceAbort } from './abort.js';
import { oneLine } from '../text.js';
import { splitRepository } from './reference.js';
import { contextAllowed, refusedContextError } from '../allow-contexts.js';
import { imagePlatforms } from '../platform.js';

/** How the built image reaches the cluster, and the sentence that says why. */
export type Delivery =
  | { mode: 'shared-daemon'; why: string }
  | { mode: 'kind-load'; why: string; cluster: string }
  | {
      mode: 'push';
      why: string;
      /** host:port pushed to from this machine. */
      registry: string;
      /** Repository pushed, e.g. 127.0.0.1:5000/api. */
      pushRepository: string;
      /** Repository the cluster pulls (KEP-1755 hostFromContainerRuntime may differ from the host's). */
      pullRepository: string;
    };

/**
 * Decision order: an explicit docker.delivery; else a cluster sharing the build daemon (no push at
 * all); else a registry (docker.registry, or the cluster's local-registry-hosting ConfigMap); else
 * kind load for a kind cluster; else the registry named in image.repository.
 */
export async function decideDelivery(ctx: StageContext, config: ResolvedConfig, factsTimeoutMs: number): Promise<Delivery> {
  const { registry: repoRegistry, path } = splitRepository(ctx.service.image!.repository);
  const mode = config.docker.delivery;
  const explicit = config.docker.registry;
  const needFacts = ctx.cluster && !(mode === 'shared-daemon' || (mode === 'push' && explicit));
  let facts: ClusterFacts | undefined;
  let factsProblem: string | undefined;
  if (needFacts) {
    const limit = bounded(ctx.signal, factsTimeoutMs);
    try {
      facts = await raceAbort(ctx.cluster!.facts(limit.signal), limit.signal);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      factsProblem = limit.timedOut() ? `no cluster facts within ${factsTimeoutMs / 1000} s` : oneLine((error as Error).message);
    }
  }
  checkNodeArchitecture(imagePlatforms(ctx.service.image), facts, (text) => ctx.log(text, 'warn'));
  const push = (registry: string, why: string, pullHost = registry): Delivery => ({
    mode: 'push',
    why,
    registry,
    pushRepository: `${registry}/${path}`,
    pullRepository: `${pullHost}/${path}`,
  });
  // Pushing to the registry a cluster advertises, or loading into its nodes, changes that cluster.
  const mayChangeCluster = () => {
    const allowed = config.kubernetes.allowContexts;
    if (facts && !contextAllowed(facts.context, allowed)) throw refusedContextError(facts.context, allowed);
  };
  const advertised = facts?.localRegistry;
  const pullHostFor = (registry: string) => (advertised && advertised.host === registry ? (advertised.hostFromContainerRuntime ?? registry) : registry);

  if (mode === 'shared-daemon') return { mode, why: 'docker.delivery is shared-daemon in tightloop.yaml' };
  if (mode === 'kind-load') {
    mayChangeCluster();
    return { mode, why: 'docker.delivery is kind-load in tightloop.yaml', cluster: facts?.kindClusterName ?? 'kind' };
  }
  if (mode === 'push') {
    const registry = explicit ?? advertised?.host ?? repoRegistry;
    if (!explicit && advertised) mayChangeCluster();
    if (!registry) {
      throw new StageError('docker.delivery is push but no registry is known', {
        hint: 'set docker.registry, name the registry in image.repository (e.g. localhost:5000/api), or advertise one in kube-public/local-registry-hosting',
      });
    }
    return push(registry, `docker.delivery is push; registry ${registry} from ${explicit ? 'docker.registry' : advertised ? 'the cluster (local-registry-hosting)' : 'image.repository'}`, pullHostFor(registry));
  }

  if (facts?.sharesDockerDaemon) {
    return { mode: 'shared-daemon', why: `the ${facts.flavor} cluster (context ${facts.context}) runs images straight from the build daemon, so no push is needed` };
  }
  if (explicit) return push(explicit, `docker.registry ${explicit} is set in tightloop.yaml`, pullHostFor(explicit));
  if (advertised) {
    mayChangeCluster();
    return push(advertised.host, `the cluster advertises registry ${advertised.host} in kube-public/local-registry-hosting (KEP-1755)`, advertised.hostFromContainerRuntime ?? advertised.host);
  }
  if (facts?.flavor === 'kind') {
    mayChangeCluster();
    const cluster = facts.kindClusterName ?? 'kind';
    return { mode: 'kind-load', why: `kind cluster "${cluster}" has no local registry, so the image is loaded into its nodes`, cluster };
  }
  if (repoRegistry) {
    const because = facts ? `the ${facts.flavor} cluster neither shares the build daemon nor advertises a registry` : factsProblem ? `cluster facts unavailable (${factsProblem})` : 'no cluster facts';
    return push(repoRegistry, `image.repository names registry ${repoRegistry} (${because})`);
  }
  throw new StageError('no way to deliver the image to the cluster', {
    hint: `${factsProblem ? `cluster facts unavailable (${factsProblem}); ` : ''}set docker.registry, or name a registry in image.repository (e.g. localhost:5000/${path}), or set docker.delivery`,
  });
}

/** An image no node can run is certain to crash-loop with "exec format error": say so now. */
function checkNodeArchitecture(platforms: string[], facts: ClusterFacts | undefined, warn: (text: string) => void): void {
  const archs = platforms.map((p) => p.split('/')[1]).filter((a): a is string => !!a);
  const nodes = facts?.nodeArchitectures ?? [];
  if (archs.length === 0 || nodes.length === 0) return;
  const uncovered = nodes.filter((n) => !archs.includes(n));
  if (uncovered.length === 0) return;
  if (uncovered.length < nodes.length) {
    warn(`cluster ${facts!.context} has ${uncovered.join(', ')} nodes, which no built platform (${platforms.join(', ')}) covers: pods scheduled there would fail with "exec format error"`);
    return;
  }
  const one = platforms.length === 1;
  throw new StageError(`the image is ${platforms.join(', ')} but the nodes of cluster ${facts!.context} are ${nodes.join(', ')}: its pods would fail with "exec format error"`, {
    hint: one ? `set image.platform to linux/${nodes[0]} and build the binary for it` : `add linux/${nodes[0]} to image.platforms`,
  });
}
