import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

/**
 * Whether the current user may exec into pods of `namespace` (create pods/exec), asked with a
 * SelfSubjectAccessReview — what `kubectl auth can-i create pods/exec` does. Live update needs it.
 */
export async function canExec(kc: KubeConfig, namespace: string): Promise<{ allowed: boolean; reason?: string }> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const review = await api.createSelfSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { namespace, verb: 'create', resource: 'pods', subresource: 'exec' } },
    },
  });
  return { allowed: review.status?.allowed === true, ...(review.status?.reason && { reason: review.status.reason }) };
}
