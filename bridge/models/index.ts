/** Public surface of model management (the daemon, its CLI and the engine glue import from here). */
export { runModelsCommand, type CliIo } from './cli.ts';
export { listModels, findModel, ModelRegistry, MissingModelError, WrongModelError, type HashMode } from './registry.ts';
export { resolveRoots, readModelsConfig, type ModelsConfig, type ResolvedRoots } from './config.ts';
export { HashCache, sha256File } from './hash-cache.ts';
export { detectLayout, OWN_LAYOUT, type Layout, type LayoutKind } from './layouts.ts';
export { builtinPresets, getPreset, presetForRole, type Preset, type PresetFile } from './presets.ts';
export { pullPreset, type PullOptions, type PullResult } from './pull.ts';
export { downloadFile, type DownloadRequest, type DownloadOptions, type DownloadResult } from './download.ts';
export { roleOf, roleMatches, describeRole, type Role } from './roles.ts';
export type { ModelEntry, SkippedFile } from './scan.ts';
export { configDir, cacheDir, defaultModelsDir, modelsConfigFile } from './paths.ts';
