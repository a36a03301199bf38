import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/index.js';
import { generateConfig, type FoundFile } from '../../src/extension/model/config-generator.js';

/** Writes the found files into a temp workspace and validates the generated config there. */
function validate(found: FoundFile[], yaml: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-gen-'));
  try {
    for (const f of found) {
      mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
      writeFileSync(path.join(dir, f.path), f.text);
    }
    return parseConfigText(yaml, path.join(dir, 'tightloop.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const deployment = (name: string, image: string, containers = 1) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop }
spec:
  template:
    spec:
      containers:
${Array.from({ length: containers }, (_, i) => `        - name: ${i === 0 ? name : `sidecar${i}`}\n          image: ${i === 0 ? image : 'envoy:1'}`).join('\n')}
---
apiVersion: v1
kind: Service
metadata: { name: ${name} }
`;

describe('Create Config generator', () => {
  it('makes a Rust service from Cargo.toml, matched to its Deployment, and the result is a valid config', () => {
    const found: FoundFile[] = [
      { path: 'Cargo.toml', text: '[package]\nname = "orders"\nversion = "0.1.0"\n\n[dependencies]\n' },
      { path: 'k8s/orders.yaml', text: deployment('orders', 'registry.local/orders:1', 2) },
    ];
    const out = generateConfig(found);
    assert.deepEqual(out.services, ['orders']);
    assert.match(out.yaml, /command: "cargo build --release --target x86_64-unknown-linux-musl"/);
    assert.match(out.yaml, /problemMatcher: rustc/);
    assert.match(out.yaml, /from: target\/x86_64-unknown-linux-musl\/release\/orders, to: orders/);
    assert.match(out.yaml, /workload: deployment\/orders\n\s+container: orders\n\s+namespace: shop/);
    const result = validate(found, out.yaml);
    assert.deepEqual(result.issues, []);
    assert.equal(result.config?.services.orders?.deploy?.workload, 'deployment/orders');
  });

  it('makes Go services from go.mod in sub-folders, keeps a packaging-only Dockerfile, replaces a compiling one', () => {
    const found: FoundFile[] = [
      { path: 'svc/api/go.mod', text: 'module github.com/acme/api\n\ngo 1.22\n' },
      { path: 'svc/api/Dockerfile', text: 'FROM scratch\nCOPY api /api\nENTRYPOINT ["/api"]\n' },
      { path: 'svc/worker/go.mod', text: 'module github.com/acme/worker\n' },
      { path: 'svc/worker/Dockerfile', text: 'FROM golang:1.22 AS build\nRUN go build -o /w .\nFROM scratch\nCOPY --from=build /w /w\n' },
      { path: 'deploy/all.yaml', text: deployment('worker', 'x/worker:latest') + '---\n' + deployment('api', 'x/api:1') },
    ];
    const out = generateConfig(found);
    assert.deepEqual(out.services, ['api', 'worker']);
    assert.match(out.yaml, /dockerfile: svc\/api\/Dockerfile/);
    assert.doesNotMatch(out.yaml, /svc\/worker\/Dockerfile/);
    assert.ok(out.notes.some((n) => /compiles inside Docker/.test(n)));
    assert.match(out.yaml, /cwd: svc\/api/);
    assert.match(out.yaml, /go build -o \.\.\/\.\.\/\.tightloop\/build\/api \./);
    const result = validate(found, out.yaml);
    assert.deepEqual(result.issues, []);
    assert.equal(result.config?.services.worker?.deploy?.workload, 'deployment/worker');
  });

  it('builds a Dockerfile-only folder in compatibility mode', () => {
    const found: FoundFile[] = [{ path: 'frontend/Dockerfile', text: 'FROM nginx\nCOPY . /usr/share/nginx/html\n' }];
    const out = generateConfig(found);
    assert.deepEqual(out.services, ['frontend']);
    assert.match(out.yaml, /context: frontend/);
    assert.deepEqual(validate(found, out.yaml).issues, []);
  });

  it('writes a valid template when nothing is recognised, and reports unmatched workloads', () => {
    const out = generateConfig([{ path: 'k8s/db.yaml', text: deployment('db', 'postgres:16') }]);
    assert.deepEqual(out.services, ['app']);
    assert.ok(out.notes.some((n) => /no Cargo\.toml, go\.mod or Dockerfile/.test(n)));
    const result = validate([{ path: 'k8s/db.yaml', text: '' }], out.yaml);
    assert.deepEqual(result.issues, []);
  });

  it('skips Cargo workspaces without a package and ignores broken manifests', () => {
    const found: FoundFile[] = [
      { path: 'Cargo.toml', text: '[workspace]\nmembers = ["a"]\n' },
      { path: 'a/Cargo.toml', text: '[package]\nname = "a"\n' },
      { path: 'k8s/bad.yaml', text: 'kind: Deployment\nmetadata: [unclosed\n' },
    ];
    const out = generateConfig(found);
    assert.deepEqual(out.services, ['a']);
    assert.match(out.yaml, /cwd: a/);
    assert.deepEqual(validate(found, out.yaml).issues, []);
  });
});
