import type { ResolvedConfig, ResolvedService } from '../config/resolved.js';
import type { LivePodWatcher, LiveRecord, RunOutputs, WatchedPod } from '../stages/stage.js';
import { imageContent } from './plan.js';

/**
 * Between runs, a pod that appears after a live sync (crash, eviction, scale-up) runs its image's
 * content, not the synced files. While the last success of a live-update service left the pods
 * running content their image lacks, the guard watches the workload's pods and asks for a run
 * (trigger `pod`) as soon as one appears that the live record does not know: that run syncs it
 * (the live stage waits for it to become ready) or falls back to a full rollout, saying why, and
 * until it ends the service shows a run queued or running, never "up to date".
 */
export class LivePodGuard {
  private readonly watched = new Map<string, { stop(): void; record: LiveRecord; pods: WatchedPod[]; asked: Set<string> }>();
  private closed = false;

  constructor(
    private readonly deps: {
      config: ResolvedConfig;
      watcher: LivePodWatcher;
      /** The last success of the service (its live record and staged files). */
      lastSuccess(service: string): Promise<Partial<RunOutputs> | undefined>;
      /** A run of the service runs or waits (it deals with the pods itself), or changes are held back for a manual run. */
      busy(service: string): boolean;
      /** Ask for a run that brings `pod` to the current content. */
      request(service: string, pod: string): void;
      note(service: string, text: string, level: 'info' | 'warn'): void;
    },
  ) {}

  /** After a run of the service (or on start): watch its pods if new ones would be stale, else stop. */
  async refresh(name: string): Promise<void> {
    const service = this.deps.config.services[name];
    if (!service?.live || !service.deploy?.workload || this.closed) return;
    const last = await this.deps.lastSuccess(name);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
    if (this.closed) return;
    const current = this.watched.get(name);
    if (!last?.live || !newPodsStale(service, last)) {
      if (current) {
        current.stop();
        this.watched.delete(name);
      }
      return;
    }
    if (current) {
      current.record = last.live;
      this.evaluate(name);
      return;
    }
    const entry = { stop: () => {}, record: last.live, pods: [] as WatchedPod[], asked: new Set<string>() };
    this.watched.set(name, entry);
    const handle = this.deps.watcher.watch(
      this.deps.config,
      service,
      (pods) => {
        entry.pods = pods;
        this.evaluate(name);
      },
      (error) => {
        if (this.watched.get(name) === entry) this.watched.delete(name);
        this.deps.note(name, `pods of ${service.deploy!.workload} no longer watched (${error.message.split('\n')[0]}): a pod that appears gets the live-synced files at the next run`, 'warn');
      },
    );
    entry.stop = () => handle.stop();
    this.deps.note(name, `watching the pods of ${service.deploy.workload}: a pod that appears gets the live-synced files before the service counts as ready`, 'info');
  }

  /** A pod the record does not know, not going away, asked about once: one run for it. */
  private evaluate(name: string): void {
    const entry = this.watched.get(name);
    if (!entry || this.closed || this.deps.busy(name)) return;
    const fresh = entry.pods.find((p) => !p.gone && p.uid && !(p.uid in entry.record.pods) && !entry.asked.has(p.uid));
    if (!fresh) return;
    entry.asked.add(fresh.uid);
    this.deps.request(name, fresh.name);
  }

  /** Which services are watched now (tests, status). */
  get services(): string[] {
    return [...this.watched.keys()];
  }

  stop(): void {
    this.closed = true;
    for (const entry of this.watched.values()) entry.stop();
    this.watched.clear();
  }
}

/** A pod started from the deployed image would not run the last success's staged files. */
function newPodsStale(service: ResolvedService, last: Partial<RunOutputs>): boolean {
  const live = service.live!;
  const image = imageContent(live, last.live!.imageFiles);
  const now = imageContent(live, last.stagedFiles ?? []);
  return Object.entries(now).some(([to, sha]) => image[to] !== sha);
}
