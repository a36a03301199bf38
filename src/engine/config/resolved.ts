import type { ParsedConfig, ServiceSpec, TaskSpec } from './schema.js';

/**
 * The config after loading: paths are absolute, durations are milliseconds, `${env:X}` is
 * expanded. Stages only ever see this shape, never raw YAML.
 */
export interface ResolvedConfig {
  /** Absolute path of tightloop.yaml. */
  file: string;
  /** The config file's folder; relative paths resolve against it. */
  root: string;
  version: 1;
  kubernetes: {
    context?: string;
    kubeconfig?: string;
    allowContexts: string[];
    namespace: string;
  };
  docker: {
    host?: string;
    registry?: string;
    delivery: 'auto' | 'push' | 'shared-daemon' | 'kind-load';
  };
  settings: {
    quietWindowMs: number;
    parallelism: number;
    historyLimit: number;
    /** A symbolic link may lead staging, artifacts, context or Dockerfile out of the workspace (absent: no). */
    followSymlinksOutsideWorkspace?: boolean;
  };
  services: Record<string, ResolvedService>;
  tasks: Record<string, ResolvedTask>;
}

/** compile.container, paths resolved: `mounts[].source` absolute on the host. */
export interface CompileContainer {
  image: string;
  workdir: string;
  mounts: { source: string; target: string; readOnly: boolean }[];
  caches: { name: string; target: string }[];
  env: Record<string, string>;
  network?: string;
}

export interface ResolvedService {
  name: string;
  kind: 'service';
  watch?: { paths: string[]; ignore: string[] };
  trigger: ServiceSpec['trigger'];
  onChange: ServiceSpec['onChange'];
  dependsOn: string[];
  compile?: {
    command: string;
    cwd: string;
    env: Record<string, string>;
    timeoutMs: number;
    problemMatcher: NonNullable<ServiceSpec['compile']>['problemMatcher'];
    inputs?: string[];
    container?: CompileContainer;
  };
  stage?: {
    dir: string;
    files: { from: string; to: string; mode?: number }[];
    inputs?: string[];
  };
  image?: {
    repository: string;
    /** Absolute path, or undefined to generate one. */
    dockerfile?: string;
    base: string;
    /** Compatibility mode context root (absolute), filtered by its .dockerignore. */
    context?: string;
    /** The first (or only) platform. */
    platform: string;
    /** Every platform built, in config order, when image.platforms is set (see imagePlatforms). */
    platforms?: string[];
    buildArgs: Record<string, string>;
    /** image.layers: `files` relative to the staging folder, `key` relative to the config folder. */
    layers?: { name: string; files: string[]; key?: string[] }[];
    keep: number;
    maxContextBytes?: number;
    inputs?: string[];
  };
  /** 'resource': declared under `resources:` (manifests, no build); absent for services. */
  role?: 'resource';
  deploy?: {
    /** Absent with manifests: the workloads are the objects that received the image. */
    workload?: string;
    manifests?: ResolvedManifests;
    /** A command retried after the workloads are ready until it exits 0. */
    readiness?: { command: string; timeoutMs: number };
    container?: string;
    namespace: string;
    strategy: NonNullable<ServiceSpec['deploy']>['strategy'];
    readyTimeoutMs: number;
    portForwards: { local: number; remote: number }[];
    streamLogs: boolean;
  };
  live?: {
    /** `from`: staged path (posix, relative to the staging folder); `to`: absolute container path. */
    sync: { from: string; to: string }[];
    action: 'restart' | 'signal' | 'none';
    /** Signal number for action: signal. */
    signal: number;
    /** Globs relative to the config folder. */
    fallBackOn: string[];
    maxDeltaBytes: number;
    graceMs: number;
    listenTimeoutMs: number;
  };
}

/** Where a service's (or resource's) Kubernetes objects come from. */
export interface ResolvedManifests {
  /** Absolute files, folders or globs, in config order. */
  paths: string[];
  render?: { command: string; cwd: string; env: Record<string, string>; timeoutMs: number; watch: string[] };
  /** Image fields of custom resources, e.g. { kind: 'Workflow', path: 'spec.steps[].image' }. */
  imageFields: { kind: string; path: string }[];
}

export interface ResolvedTask {
  name: string;
  kind: 'task';
  command: string;
  trigger: 'auto' | 'manual';
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  dependsOn: string[];
}

export type Runnable = ResolvedService | ResolvedTask;
export type { ParsedConfig, TaskSpec };
