import { z } from 'zod';

/**
 * Schema pieces for deploying from manifests: the objects a service (or a resource without a
 * build) applies, how they are rendered, and where built images are injected. Kept apart from
 * schema.ts so the manifest feature reads as one unit.
 */

const Name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-_.]*[a-z0-9])?$/i, 'names use letters, digits, "-", "_" and "." only');

const DurationLike = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'expected a duration like 500ms, 30s, 10m or 1h')])
  .describe('Milliseconds as a number, or a string like 500ms, 30s, 10m, 1h.');

export const ManifestsSchema = z
  .array(z.string().min(1))
  .min(1)
  .describe('YAML files, folders (every .yaml/.yml/.json inside, recursively) or globs, relative to the config folder. Applied with server-side apply; watched for changes.');

export const RenderSchema = z
  .strictObject({
    command: z.string().min(1).describe('Shell command whose stdout is the YAML to apply, e.g. kustomize build k8s/overlays/dev or helm template …'),
    cwd: z.string().optional().describe('Working directory (default: the config folder).'),
    env: z.record(z.string(), z.string()).optional().describe('Extra environment variables.'),
    timeout: DurationLike.default('2m'),
    watch: z
      .array(z.string())
      .default([])
      .describe(
        'Files or folders the command reads (watched; a change re-renders and re-applies). List every one: while they (and command, cwd, env) are unchanged, the last output is reused instead of running the command again (--force always runs it). Without watch, the command runs on every run.',
      ),
  })
  .describe('Render the manifests with your own tool; its stderr streams into the deploy log.');

export const ImageFieldSchema = z
  .strictObject({
    kind: z.string().min(1).describe('Kind of the custom resource, e.g. Workflow.'),
    path: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\[\])?(\.[A-Za-z0-9_-]+(\[\])?)*$/, 'expected a dotted path like spec.runner.image or spec.steps[].image')
      .describe('Dotted path to the image string; `[]` walks every item of a list, e.g. spec.steps[].image.'),
  })
  .describe('An image field of a custom resource that receives the built image like a container does.');

export const ReadinessSchema = z
  .strictObject({
    command: z.string().min(1).optional().describe('Shell command retried (after the workloads are ready and ports forwarded) until it exits 0, e.g. pg_isready -h 127.0.0.1.'),
    timeout: DurationLike.default('2m'),
  })
  .describe('When a resource counts as ready: its workloads are ready, and then the command (if any) succeeds.');

export const ResourceSchema = z
  .strictObject({
    manifests: ManifestsSchema.optional(),
    render: RenderSchema.optional(),
    namespace: z.string().optional().describe('Namespace for objects that name none (default: kubernetes.namespace).'),
    dependsOn: z.array(Name).default([]).describe('Services, resources or tasks that must succeed first.'),
    trigger: z.enum(['auto', 'manual']).default('auto').describe('auto: re-apply when the manifests change; manual: only show "changes pending".'),
    portForwards: z
      .array(z.string().regex(/^\d{1,5}:\d{1,5}$/, 'expected LOCAL:REMOTE like 5432:5432'))
      .default([])
      .describe('Ports forwarded on 127.0.0.1 to its first workload after ready.'),
    readiness: ReadinessSchema.optional(),
    readyTimeout: DurationLike.default('2m'),
    logs: z.boolean().default(true).describe('Stream the workload pod logs after ready.'),
  })
  .describe('Something the app needs that Tightloop does not build (postgres, redis…): applied from manifests, ordered by dependsOn.');

export type ResourceSpec = z.output<typeof ResourceSchema>;
export type RenderSpec = z.output<typeof RenderSchema>;
