import path from 'node:path';
import { z } from 'zod';
import { ImageFieldSchema, ManifestsSchema, ReadinessSchema, RenderSchema, ResourceSchema } from './manifests-schema.js';

/**
 * The `tightloop.yaml` schema. It is the single source of truth: the loader validates with it,
 * `schema/tightloop.schema.json` is generated from it (a test fails on drift), and the README's
 * config reference is generated from the `.describe()` texts.
 */

const DURATION = /^\d+(\.\d+)?(ms|s|m|h)$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** One day: longer than any compile or rollout, short enough that a typo (10000h) is caught. */
const MAX_DURATION_MS = 86_400_000;
const DURATION_RANGE = 'expected a duration from 1ms to 24h, like 500ms, 30s, 10m or 1h';
const durationMs = (text: string) => Number(/^[\d.]+/.exec(text)![0]) * DURATION_UNIT_MS[/[a-z]+$/.exec(text)![0]]!;
export const Duration = z
  .union([
    z.number().int(DURATION_RANGE).min(1, DURATION_RANGE).max(MAX_DURATION_MS, DURATION_RANGE),
    z
      .string()
      .regex(DURATION, DURATION_RANGE)
      .refine((text) => !DURATION.test(text) || (durationMs(text) >= 1 && durationMs(text) <= MAX_DURATION_MS), DURATION_RANGE),
  ])
  .describe('Milliseconds as a number, or a string like 500ms, 30s, 10m, 1h (1ms to 24h).');

/** Kubernetes DNS-1123 label: namespaces, container names. */
const DnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a lowercase DNS label (a-z, 0-9, "-", at most 63 characters)');

/** picomatch refuses patterns over 64 KiB with an unpositioned error; no real glob is this long. */
const Glob = z.string().min(1, 'expected a non-empty path or glob').max(4096, 'globs and paths are limited to 4096 characters');

const Name = z
  .string()
  .max(100, 'names are limited to 100 characters')
  .regex(/^[a-z0-9]([a-z0-9-_.]*[a-z0-9])?$/i, 'names use letters, digits, "-", "_" and "." only');

/** zod says only "Invalid key in record"; say what a key must look like. */
const keyError = (what: string) => (issue: { code?: string }) => (issue.code === 'invalid_key' ? `invalid key: expected ${what}` : undefined);

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name: letters, digits and "_", not starting with a digit');
const Env = z.record(EnvName, z.string(), { error: keyError('an environment variable name: letters, digits and "_", not starting with a digit') }).describe('Extra environment variables (merged over the inherited ones).');

const Inputs = z
  .array(Glob)
  .describe('Globs (relative to the config folder). When their content hash equals the last success, the stage is skipped.');

export const WatchSchema = z
  .strictObject({
    paths: z.array(Glob).min(1).describe('Files or folders to watch, relative to the config folder.'),
    ignore: z.array(Glob).default([]).describe('Globs never watched or traversed (e.g. target/**).'),
  })
  .describe('What to watch for changes.');

const ContainerPath = z.string().regex(/^\//, 'expected an absolute path inside the container, like /workspace');

export const CompileContainerSchema = z
  .strictObject({
    image: z.string().min(1).describe('The toolchain image (it needs /bin/sh); a changed image (or image ID) recreates the container.'),
    workdir: ContainerPath.default('/workspace').describe('Where the workspace (the config folder) is mounted; compile.cwd maps below it.'),
    mounts: z
      .array(
        z.strictObject({
          source: z.string().min(1).describe('Host path, relative to the config folder.'),
          target: ContainerPath,
          readOnly: z.boolean().default(false),
        }),
      )
      .default([])
      .describe('Extra bind mounts.'),
    caches: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected a volume name: lowercase letters, digits, "_", "." and "-"').describe('Named volume (tightloop-cache-<name>), kept when the container is recreated.'),
          target: ContainerPath,
        }),
      )
      .default([])
      .describe('Named cache volumes (package registries, target folders) that outlive the container.'),
    env: Env.optional(),
    network: z.string().optional().describe('Network mode of the container (e.g. none, host); default: the engine default.'),
  })
  .describe('Compile inside a kept dev build container (started once, labelled as Tightloop\'s), through docker exec.');

export const CompileSchema = z
  .strictObject({
    command: z.string().min(1).describe('Shell command that builds the artifacts on the host (or in compile.container).'),
    cwd: z.string().optional().describe('Working directory (default: the config folder).'),
    env: Env.optional(),
    timeout: Duration.default('10m'),
    problemMatcher: z.enum(['rustc', 'go', 'gcc', 'tsc', 'none']).default('none').describe('How compiler errors are parsed into diagnostics.'),
    inputs: Inputs.optional(),
    container: CompileContainerSchema.optional(),
  })
  .describe('The local compile step.');

export const StageFileSchema = z.strictObject({
  from: z.string().min(1).describe('Artifact path, relative to the config folder.'),
  to: z
    .string()
    .min(1)
    .max(4096, 'globs and paths are limited to 4096 characters')
    // "..", "." and escapes are reported by the semantic check, next to the other path problems.
    .refine((to) => path.posix.normalize(to.replace(/\\/g, '/')).replace(/^\/+/, '') !== '', 'expected a file path inside the staging folder, like bin/api (not "/")')
    .describe('Path inside the staging folder.'),
  mode: z
    .string()
    .refine(
      (mode) => /^0?[0-7]{3}$/.test(mode) && (parseInt(mode, 8) & 0o002) === 0,
      'expected an octal file mode from 000 to 0775, like 0755 (no setuid, setgid or sticky bits, not world-writable)',
    )
    .optional()
    .describe('Octal file mode from 000 to 0775 (no setuid/setgid/sticky, not world-writable); default: keep the source mode.'),
});

export const StageSchema = z
  .strictObject({
    dir: z.string().min(1).describe('The staging folder; it becomes the whole image build context.'),
    files: z.array(StageFileSchema).min(1).describe('Artifacts copied into the staging folder.'),
    inputs: Inputs.optional(),
  })
  .describe('The staging area (only what the image needs).');

const Platform = z
  .string()
  .regex(
    /^linux\/(amd64|arm64(\/v8)?|arm(\/v[5-7])?|386|ppc64le|s390x|riscv64)$/,
    'expected linux/ARCH with ARCH one of amd64, arm64, arm/v7, arm/v6, 386, ppc64le, s390x, riscv64 (images run on Linux nodes)',
  );

export const ImageSchema = z
  .strictObject({
    repository: z.string().min(1).describe('Image repository, e.g. localhost:5000/api. The tag is always tl-<content hash>.'),
    dockerfile: z.string().optional().describe('Dockerfile path; when absent one is generated (FROM base, COPY staged files).'),
    base: z.string().default('scratch').describe('Base image for the generated Dockerfile.'),
    context: z
      .string()
      .optional()
      .describe('Compatibility mode: build context root filtered by its .dockerignore instead of the staging folder.'),
    platform: Platform.default('linux/amd64').describe('The image platform; ${platform}, ${os}, ${arch}, ${variant}, ${machine}, ${rustTarget} in compile.command and stage.files[].from are its values.'),
    platforms: z
      .array(Platform)
      .min(1, 'expected at least one platform, like [linux/amd64, linux/arm64]')
      .refine((list) => new Set(list).size === list.length, 'each platform may be listed once')
      .optional()
      .describe(
        'Several platforms: compile and stage run once per platform (${platform}, ${os}, ${arch}, ${variant}, ${machine}, ${rustTarget} in compile.command and stage.files[].from; TIGHTLOOP_PLATFORM… in the environment), and one image per platform is pushed under an OCI image index. Replaces image.platform.',
      ),
    buildArgs: z.record(z.string(), z.string()).default({}),
    layers: z
      .array(
        z.strictObject({
          name: z.string().min(1).optional().describe('For the log and the image history (default: layer N).'),
          files: z.array(Glob).min(1).describe('Globs relative to the staging folder: the staged files this layer holds (a file goes to the first layer that matches it).'),
          key: z.array(Glob).optional().describe('Extra files (globs relative to the config folder, e.g. Cargo.lock) whose content also keys the layer.'),
        }),
      )
      .optional()
      .describe(
        'Ordered layers of the generated image (before one layer per remaining top-level staged entry). A layer is keyed by the staged bytes it holds (from the stage step: nothing is read again) plus its key files; an unchanged key reuses the blob: no tar, no gzip, no upload.',
      ),
    keep: z.number().int('expected a whole number from 1 to 1000').min(1, 'expected a whole number from 1 to 1000').max(1000, 'expected a whole number from 1 to 1000').default(5).describe('How many Tightloop images to keep per service.'),
    maxContextSize: z
      .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*([kmg]i?b|b)?$/i, 'expected a size like 500MB')])
      .optional()
      .describe('Refuse a build context larger than this (bytes, or e.g. 500MB). Default: 2GB.'),
    inputs: Inputs.optional(),
  })
  .describe('The thin image built from the staging folder.');

export const DeploySchema = z
  .strictObject({
    workload: z
      .string()
      .regex(
        /^(([Dd]eployment|[Ss]tateful[Ss]et|[Dd]aemon[Ss]et)\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?|([Dd]eployment|[Ss]tateful[Ss]et|[Dd]aemon[Ss]et):[^\s=]+=[^\s]*)$/,
        'expected kind/name with a lowercase DNS name (deployment/api) or kind:label=value',
      )
      .optional()
      .describe('deployment/NAME, statefulset/NAME, daemonset/NAME, or KIND:label=value. Optional with manifests: the workloads are the objects that received the image.'),
    manifests: ManifestsSchema.optional(),
    render: RenderSchema.optional(),
    imageFields: z.array(ImageFieldSchema).default([]).describe('Image fields of custom resources (containers and initContainers of pod templates are found without this).'),
    readiness: ReadinessSchema.optional(),
    container: DnsLabel.optional().describe('Container to update (default: the only one).'),
    namespace: DnsLabel.optional(),
    strategy: z.enum(['set-image', 'rollout-restart', 'delete-pods']).default('set-image'),
    readyTimeout: Duration.default('2m'),
    portForwards: z
      .array(
        z
          .string()
          .regex(/^\d{1,5}:\d{1,5}$/, 'expected LOCAL:REMOTE with ports from 1 to 65535, like 8080:8080')
          .refine((pair) => pair.split(':').every((p) => Number(p) >= 1 && Number(p) <= 65535), 'expected LOCAL:REMOTE with ports from 1 to 65535, like 8080:8080'),
      )
      .default([])
      .describe('Ports forwarded on 127.0.0.1 after ready; they follow the workload across restarts.'),
    streamLogs: z.boolean().default(true).describe('Stream the new pod logs after ready.'),
  })
  .describe('How the workload is updated in the cluster.');

export const LiveSyncSchema = z.strictObject({
  from: z.string().min(1).describe('A staged file or folder (its path inside the staging folder).'),
  to: z
    .string()
    .regex(/^\/([^/\0]+\/)*[^/\0]+$/, 'expected an absolute container path like /app/server')
    .refine((p) => !p.split('/').some((part) => part === '.' || part === '..'), 'a container path cannot hold "." or ".."')
    .describe('Absolute path in the container the staged file or folder is synced to.'),
});

export const LiveSchema = z
  .strictObject({
    sync: z.array(LiveSyncSchema).min(1).describe('Staged files or folders copied into the running containers.'),
    action: z
      .enum(['restart', 'signal', 'none'])
      .default('restart')
      .describe('After a sync: restart the process (TERM, grace, KILL, start again), send it a signal, or nothing.'),
    signal: z.enum(['HUP', 'USR1', 'USR2', 'INT', 'QUIT', 'TERM']).default('HUP').describe('The signal sent by action: signal.'),
    fallBackOn: z
      .array(z.string().min(1))
      .default([])
      .describe('Globs (relative to the config folder): a change to any of them takes the full image + rollout path.'),
    maxDelta: z
      .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*([kmg]i?b|b)?$/i, 'expected a size like 64MB')])
      .default('64MB')
      .describe('A pod whose live delta (bytes synced since its image) would exceed this gets a full rollout instead.'),
    grace: Duration.default('5s').describe('How long a restart waits after TERM before KILL.'),
    listenTimeout: Duration.default('10s').describe('How long a restart waits for the new process to listen on a port.'),
  })
  .describe('Live update: sync changed files into the running containers instead of rolling out a new image (needs the image built by Tightloop).');

export const ServiceSchema = z.strictObject({
  watch: WatchSchema.optional(),
  trigger: z.enum(['auto', 'manual']).default('auto').describe('auto: rebuild on change; manual: only show "changes pending".'),
  onChange: z
    .enum(['restart', 'queue'])
    .default('restart')
    .describe('A change during compile restarts it (restart) or waits for one follow-up run (queue).'),
  dependsOn: z.array(Name).default([]).describe('Services or tasks that must succeed first.'),
  compile: CompileSchema.optional(),
  stage: StageSchema.optional(),
  image: ImageSchema.optional(),
  deploy: DeploySchema.optional(),
  live: LiveSchema.optional(),
});

export const TaskSchema = z.strictObject({
  command: z.string().min(1).describe('Shell command.'),
  trigger: z
    .enum(['auto', 'manual'])
    .default('manual')
    .describe('manual: runs only when asked (run <task>, palette, panel); auto: in watch mode also after each rebuild of what it depends on.'),
  cwd: z.string().optional().describe('Working directory (default: the config folder).'),
  env: Env.optional(),
  timeout: Duration.default('10m'),
  dependsOn: z.array(Name).default([]),
});

export const DEFAULT_ALLOW_CONTEXTS = ['kind-*', 'k3d-*', 'minikube', 'docker-desktop', 'rancher-desktop', 'orbstack', 'colima*', 'microk8s'];

export const KubernetesSchema = z.strictObject({
  context: z.string().optional().describe('kubeconfig context (default: the current context).'),
  kubeconfig: z.string().optional().describe('kubeconfig path (default: KUBECONFIG or ~/.kube/config).'),
  allowContexts: z
    .array(z.string())
    .default(DEFAULT_ALLOW_CONTEXTS)
    .describe('Globs of context names Tightloop may write to. Anything else is refused.'),
  namespace: DnsLabel.default('default').describe('Namespace of the workloads (a service may override it).'),
}).describe('The cluster to deploy to. Without any kubeconfig, deploy and ready are skipped.');

export const DockerSchema = z.strictObject({
  host: z.string().optional().describe('Docker host (default: DOCKER_HOST, the current docker context, or the local socket).'),
  registry: z.string().optional().describe('Registry to push to (host:port); overrides the cluster-advertised one.'),
  delivery: z
    .enum(['auto', 'push', 'shared-daemon', 'kind-load'])
    .default('auto')
    .describe('How images reach the cluster; auto decides from the cluster facts.'),
}).describe('The Docker engine that builds images, and how they are delivered.');

export const SettingsSchema = z.strictObject({
  quietWindowMs: z.number().int().min(0).max(5000).default(15).describe('Batch file changes arriving within this window (ms); a run that follows a running one also waits until changes were quiet for 4× this (at least 200 ms).'),
  parallelism: z.number().int().min(1).max(256).optional().describe('Services built at once (default: CPU count).'),
  historyLimit: z.number().int().min(10).max(100_000).default(2000).describe('Runs kept in .tightloop/history.jsonl.'),
  followSymlinksOutsideWorkspace: z
    .boolean()
    .default(false)
    .describe('Let a symbolic link lead a staging folder, an artifact, a build context or a Dockerfile outside the workspace (off: refused with the link named).'),
}).describe('Engine settings.');

export const ConfigSchema = z.strictObject({
  version: z.literal(1).describe('Config format version.'),
  kubernetes: KubernetesSchema.optional(),
  docker: DockerSchema.optional(),
  settings: SettingsSchema.prefault({}),
  services: z
    .record(Name, ServiceSchema, { error: keyError('a name of letters, digits, "-", "_" and "." (at most 100 characters)') })
    .refine((s) => Object.keys(s).length > 0, 'at least one service is required')
    .describe('Services: watch → compile → stage → image → push → deploy → ready.'),
  resources: z.record(Name, ResourceSchema, { error: keyError('a name of letters, digits, "-", "_" and "." (at most 100 characters)') }).default({}).describe('Things deployed from manifests without a build (databases, caches, observability): dependsOn, port-forwards, readiness, logs.'),
  tasks: z.record(Name, TaskSchema, { error: keyError('a name of letters, digits, "-", "_" and "." (at most 100 characters)') }).default({}).describe('Commands run after their dependencies (e.g. smoke tests after a deploy).'),
});

export type RawConfig = z.input<typeof ConfigSchema>;
export type ParsedConfig = z.output<typeof ConfigSchema>;
export type ServiceSpec = z.output<typeof ServiceSchema>;
export type TaskSpec = z.output<typeof TaskSchema>;
export type { ResourceSpec } from './manifests-schema.js';
