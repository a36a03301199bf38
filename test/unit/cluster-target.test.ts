import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { clusterTarget } from '../../src/engine/kube/target.js';
import { configIn, workspace } from '../helpers/workspace.js';

const KUBECONFIG = (current: string) => `apiVersion: v1
kind: Config
current-context: ${current}
clusters:
  - { name: local, cluster: { server: "https://127.0.0.1:6443" } }
  - { name: cloud, cluster: { server: "https://k8s.example.com" } }
users:
  - { name: me, user: { token: x } }
contexts:
  - { name: kind-dev, context: { cluster: local, user: me } }
  - { name: prod-eu, context: { cluster: cloud, user: me } }
`;

describe('cluster target (the view header)', () => {
  it('names the context and namespace, and whether allowContexts lets Tightloop write there', async () => {
    const dir = await workspace({});
    await writeFile(path.join(dir, 'kubeconfig'), KUBECONFIG('kind-dev'));
    const config = await configIn(dir, 'version: 1\nkubernetes: { kubeconfig: kubeconfig, namespace: shop }\nservices: { a: { compile: { command: "true" } } }\n');
    assert.deepEqual(clusterTarget(config), { context: 'kind-dev', namespace: 'shop', server: 'https://127.0.0.1:6443', allowed: true });

    const prod = await configIn(dir, 'version: 1\nkubernetes: { kubeconfig: kubeconfig, context: prod-eu }\nservices: { a: { compile: { command: "true" } } }\n');
    assert.deepEqual(clusterTarget(prod), { context: 'prod-eu', namespace: 'default', server: 'https://k8s.example.com', allowed: false });
  });

  it('says why there is no context instead of throwing', async () => {
    const dir = await workspace({});
    const config = await configIn(dir, 'version: 1\nkubernetes: { kubeconfig: missing-kubeconfig }\nservices: { a: { compile: { command: "true" } } }\n');
    const target = clusterTarget(config);
    assert.equal(target.context, undefined);
    assert.equal(target.allowed, false);
    assert.match(target.problem ?? '', /No kubeconfig found/);
  });
});
