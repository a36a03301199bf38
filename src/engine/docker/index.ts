import type { ResolvedConfig } from '../config/resolved.js';
import type { ClusterFactsProvider, StageSet } from '../stages/stage.js';
import { createDoctorChecks } from './doctor.js';
import { createImageStage } from './image-stage.js';
import type { DockerStageOptions } from './options.js';
import { createPushStage } from './push-stage.js';
import { DockerRuntime } from './runtime.js';

export type { DockerStageOptions, DockerTimeouts } from './options.js';
export { DEFAULT_TIMEOUTS } from './options.js';
// The compile stage's build container talks to the same Docker Engine: it is loaded with the rest
// of the integration (its own file in the bundles, see scripts/build.mjs), never at activation.
export { compileInContainer } from '../compile/container/compile-in-container.js';

/**
 * The Docker half of the engine: the `image` and `push` stages and their doctor checks, talking to
 * the Docker Engine API through dockerode. `cluster` is only used by doctor (the stages get it
 * from their StageContext).
 */
export function createDockerStages(
  config: ResolvedConfig,
  opts: DockerStageOptions & { cluster?: ClusterFactsProvider } = {},
): Pick<StageSet, 'image' | 'push' | 'doctor'> & { dispose(): Promise<void>; settled(): Promise<void> } {
  const runtime = new DockerRuntime(config, opts);
  return {
    image: createImageStage(runtime),
    push: createPushStage(runtime),
    doctor: createDoctorChecks(runtime),
    dispose: () => runtime.dispose(),
    /** Resolves when background image cleanup is done (it runs after the image stage returns). */
    settled: () => runtime.settled(),
  };
}
