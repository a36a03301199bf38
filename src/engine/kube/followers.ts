import type { V1Pod } from '@kubernetes/client-node';
import type { ResolvedService } from '../config/resolved.js';
import type { KubeClient } from './client.js';
import { PodLogFollower, type LineSink } from './pod-logs.js';
import { PortForwarder } from './port-forward.js';
import type { Baseline } from './rollout.js';
import { label } from './workload.js';

/**
 * What keeps running for a service after it became ready: its new pods' log stream (replaced on
 * every rollout) and its port-forwards (kept across rollouts; they pick the current pod per
 * connection). Port-forward problems are reported to the log, never fail a run.
 */
export class ServiceFollowers {
  private logs: PodLogFollower | undefined;
  private readonly forwards = new Map<number, PortForwarder>();

  constructor(private readonly sink: LineSink) {}

  async update(service: ResolvedService, client: KubeClient, b: Baseline, pods: V1Pod[]): Promise<void> {
    const deploy = service.deploy;
    if (!deploy) return;
    if (deploy.streamLogs && pods.length) {
      this.logs ??= new PodLogFollower(this.sink);
      await this.logs.follow(client, pods, b.container);
    } else {
      this.logs?.stop();
    }
    const target = { namespace: b.namespace, selector: b.selector, label: label(b) };
    const wanted = new Map(deploy.portForwards.map((p) => [p.local, p.remote]));
    for (const [local, fwd] of this.forwards) {
      if (wanted.get(local) !== fwd.remote) {
        await fwd.stop();
        this.forwards.delete(local);
      }
    }
    for (const [local, remote] of wanted) {
      const existing = this.forwards.get(local);
      if (existing) {
        existing.retarget(client, target);
        continue;
      }
      const fwd = new PortForwarder(client, target, local, remote, this.sink);
      try {
        await fwd.start();
        this.forwards.set(local, fwd);
        this.sink(`forwarding 127.0.0.1:${local} → ${target.label}:${remote}`, 'info');
      } catch (err) {
        this.sink(`cannot forward 127.0.0.1:${local}: ${(err as Error).message}`, 'warn');
      }
    }
  }

  async dispose(): Promise<void> {
    this.logs?.stop();
    await Promise.all([...this.forwards.values()].map((f) => f.stop()));
    this.forwards.clear();
  }
}
