import type { StageContext } from '../stages/stage.js';
import { oneLine } from '../text.js';
import { decideDirect, type DirectSpec } from './assembly/spec.js';
import { decideDelivery, type Delivery } from './delivery.js';
import type { BuildPlan } from './context/plan.js';
import type { DockerRuntime } from './runtime.js';

/** The path chosen, with the delivery when deciding the path needed it (push then reuses it). */
export type Route = { direct: true; spec: DirectSpec; delivery: Extract<Delivery, { mode: 'push' }>; why: string } | { direct: false; why: string; delivery?: Delivery };

/**
 * The direct path (like ko or jib: no engine, the image assembled here and pushed over the registry
 * API) when the image is going to a registry anyway and nothing in it needs the builder. A shared
 * daemon or kind load needs the image inside the engine, so those keep the engine build.
 */
export async function chooseRoute(ctx: StageContext, runtime: DockerRuntime, plan: BuildPlan): Promise<Route> {
  if (runtime.engineForced) return { direct: false, why: 'engine build: TIGHTLOOP_ENGINE_BUILD=1 is set' };
  const decision = decideDirect(plan);
  if (!decision.direct) return decision;
  let delivery: Delivery;
  try {
    delivery = await decideDelivery(ctx, runtime.config, runtime.timeouts.clusterFactsMs);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    // The push stage reports why there is no delivery; the build does not depend on it.
    return { direct: false, why: `engine build: no delivery decided yet (${oneLine((error as Error).message)})` };
  }
  if (delivery.mode !== 'push') return { direct: false, why: `engine build: delivery is ${delivery.mode}, which needs the image inside the engine`, delivery };
  return { direct: true, spec: decision.spec, delivery, why: decision.why };
}
