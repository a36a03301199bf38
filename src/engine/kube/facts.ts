import type { V1Node } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { ClusterFacts } from '../stages/stage.js';
import { apiFailure, statusCode, type KubeClient } from './client.js';

/**
 * What the image stages need to know about the cluster, read from the API: the KEP-1755
 * local-registry-hosting ConfigMap, which local-cluster flavour this is (and whether its nodes run
 * images straight from the Docker daemon Tightloop builds with), and the nodes' CPU architectures.
 */

export async function readClusterFacts(client: KubeClient, signal: AbortSignal): Promise<ClusterFacts> {
  let nodes: V1Node[];
  try {
    nodes = (await client.core.listNode({}, client.options(signal, {}, 10_000))).items;
  } catch (err) {
    throw apiFailure(err, client, 'list the cluster nodes');
  }
  const localRegistry = await readLocalRegistry(client, signal);
  const { flavor, kindClusterName } = detectFlavor(client.context, nodes);
  const runtimes = nodes.map((n) => n.status?.nodeInfo?.containerRuntimeVersion ?? '');
  const archs = [...new Set(nodes.map((n) => n.status?.nodeInfo?.architecture ?? n.metadata?.labels?.['kubernetes.io/arch']).filter((a): a is string => !!a))];
  return {
    context: client.context,
    flavor,
    sharesDockerDaemon: sharesDaemon(flavor, runtimes),
    ...(localRegistry && { localRegistry }),
    nodeArchitectures: archs,
    ...(kindClusterName && { kindClusterName }),
  };
}

async function readLocalRegistry(client: KubeClient, signal: AbortSignal): Promise<ClusterFacts['localRegistry']> {
  let data: Record<string, string> | undefined;
  try {
    const cm = await client.core.readNamespacedConfigMap({ name: 'local-registry-hosting', namespace: 'kube-public' }, client.options(signal, {}, 10_000));
    data = cm.data;
  } catch (err) {
    // 404: no registry advertised. 403: RBAC hides kube-public; treat the same, it is optional.
    const code = statusCode(err);
    if (code === 404 || code === 403) return undefined;
    throw apiFailure(err, client, 'read kube-public/local-registry-hosting');
  }
  return parseLocalRegistryHosting(data?.['localRegistryHosting.v1']);
}

/** The `localRegistryHosting.v1` value (YAML) → facts; undefined when absent or without a host. */
export function parseLocalRegistryHosting(text: string | undefined): ClusterFacts['localRegistry'] {
  if (!text) return undefined;
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== 'object') return undefined;
  const v = doc as Record<string, unknown>;
  const str = (k: string) => (typeof v[k] === 'string' && v[k] ? (v[k] as string) : undefined);
  const host = str('host');
  if (!host) return undefined;
  return {
    host,
    ...(str('hostFromClusterNetwork') && { hostFromClusterNetwork: str('hostFromClusterNetwork') }),
    ...(str('hostFromContainerRuntime') && { hostFromContainerRuntime: str('hostFromContainerRuntime') }),
    ...(str('help') && { help: str('help') }),
  };
}

/** The local-cluster flavour, from the context name the tools create, else from node traits. */
export function detectFlavor(context: string, nodes: V1Node[]): { flavor: string; kindClusterName?: string } {
  const kind = /^kind-(.+)$/.exec(context);
  if (kind) return { flavor: 'kind', kindClusterName: kind[1]! };
  if (context.startsWith('k3d-')) return { flavor: 'k3d' };
  for (const name of ['minikube', 'docker-desktop', 'rancher-desktop', 'orbstack', 'microk8s']) if (context === name) return { flavor: name };
  if (context.startsWith('colima')) return { flavor: 'colima' };

  for (const n of nodes) {
    const providerID = n.spec?.providerID ?? '';
    const kindId = /^kind:\/\/[^/]+\/([^/]+)\//.exec(providerID);
    if (kindId) return { flavor: 'kind', kindClusterName: kindId[1]! };
    const labels = n.metadata?.labels ?? {};
    const name = n.metadata?.name ?? '';
    if (labels['minikube.k8s.io/name']) return { flavor: 'minikube' };
    if (labels['microk8s.io/cluster']) return { flavor: 'microk8s' };
    if (name === 'docker-desktop' || name === 'desktop-control-plane') return { flavor: 'docker-desktop' };
    if (name === 'orbstack') return { flavor: 'orbstack' };
    if (name === 'lima-rancher-desktop') return { flavor: 'rancher-desktop' };
    if ((n.status?.nodeInfo?.kubeletVersion ?? '').includes('+k3s')) {
      if (name.startsWith('k3d-')) return { flavor: 'k3d' };
      if (name.startsWith('colima')) return { flavor: 'colima' };
      return { flavor: 'k3s' };
    }
  }
  return { flavor: 'unknown' };
}

/**
 * Nodes share the builder's Docker daemon only on desktop-style clusters whose kubelet uses that
 * daemon as its runtime (docker://). kind/k3d/minikube nodes run their own runtime inside
 * containers: images must be loaded or pushed there.
 */
function sharesDaemon(flavor: string, runtimes: string[]): boolean {
  const desktop = ['docker-desktop', 'orbstack', 'rancher-desktop', 'colima'].includes(flavor);
  return desktop && runtimes.length > 0 && runtimes.every((r) => r.startsWith('docker://'));
}
