import { randomBytes } from 'node:crypto';
import type { FakeCluster } from './cluster.js';
import type { Change, KObj } from './store.js';

/**
 * The Job controller stand-in: one pod per Job (labelled job-name, as the real one does); when the
 * kubelet has the pod's containers running and ready, the container "exits 0": the pod becomes
 * Succeeded and the Job Complete. A pod the kubelet fails (a scenario) leaves the Job running, so
 * readiness diagnoses the pod.
 */
export class JobController {
  constructor(private readonly cluster: FakeCluster) {
    cluster.store.on('change', (c) => this.onChange(c));
  }

  private onChange(c: Change): void {
    if (c.resource === 'jobs' && c.type === 'ADDED') {
      setTimeout(() => this.start(c.object), this.cluster.timing.controllerMs);
    } else if (c.resource === 'jobs' && c.type === 'DELETED') {
      for (const p of this.cluster.store.list('pods', c.object.metadata.namespace)) {
        if (p.metadata.labels?.['job-name'] === c.object.metadata.name) this.cluster.deletePod(p);
      }
    } else if (c.resource === 'pods' && c.type === 'MODIFIED') {
      const jobName = c.object.metadata.labels?.['job-name'];
      const ready = c.object.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True');
      if (jobName && ready && c.object.status?.phase === 'Running') setTimeout(() => this.complete(c.object, jobName), this.cluster.timing.controllerMs);
    }
  }

  private start(job: KObj): void {
    const live = this.cluster.store.get('jobs', job.metadata.namespace, job.metadata.name);
    if (!live) return;
    const template = { ...live.spec.template, spec: { ...live.spec.template.spec } };
    this.cluster.createPod(live, template, { name: `${live.metadata.name}-${randomBytes(3).toString('hex')}`, labels: { 'job-name': live.metadata.name, 'batch.kubernetes.io/job-name': live.metadata.name } });
    live.status = { active: 1, startTime: new Date().toISOString() };
    this.cluster.store.update('jobs', live);
  }

  private complete(pod: KObj, jobName: string): void {
    const current = this.cluster.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (!current || current.status?.phase !== 'Running') return;
    current.status.phase = 'Succeeded';
    current.status.conditions = (current.status.conditions ?? []).map((x: { type: string }) => (x.type === 'Ready' || x.type === 'ContainersReady' ? { ...x, status: 'False', reason: 'PodCompleted' } : x));
    current.status.containerStatuses = (current.status.containerStatuses ?? []).map((s: Record<string, unknown>) => ({ ...s, ready: false, started: false, state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: new Date().toISOString() } } }));
    this.cluster.store.update('pods', current);
    const job = this.cluster.store.get('jobs', pod.metadata.namespace, jobName);
    if (!job) return;
    const time = new Date().toISOString();
    job.status = { ...job.status, active: 0, succeeded: 1, completionTime: time, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: time, lastTransitionTime: time }] };
    this.cluster.store.update('jobs', job);
  }
}
