/** The engine's public surface: everything the CLI and the VS Code extension may import. */
export { Engine, type EngineHooks, type EngineOptions, type ServiceStatus, type StageSetFactory } from './engine.js';
export { ConfigError, CONFIG_FILE_NAME, findConfigFile, formatIssue, loadConfig, parseConfigText, type ParseOptions } from './config/load.js';
export type { ResolvedConfig, ResolvedService, ResolvedTask, Runnable } from './config/resolved.js';
export { percentile, stageStats, type StageStats } from './history/history.js';
export type { ClusterFacts, ClusterFactsProvider, DoctorResult, Stage, StageSet } from './stages/stage.js';
export * from './types.js';
export { createIntegrations } from './integrations.js';
