/** Hot reload of the rules: the public face of src/reload. */
export { startReloader, DEFAULT_MAX_WAIT_MS, DEFAULT_QUIET_MS } from './reloader.js';
export type { ChainSelector, Reloader, ReloaderOptions, ReloadCompile, ReloadStats } from './reloader.js';
export { diffRules, diffChain, summarizeDiff, isEmptyDiff } from './diff.js';
export type { RulesDiff, ChainDiff, StepRef, StepChange, StepMove, StepField } from './diff.js';
export { logOutcome } from './outcome.js';
export type { ReloadOutcome, ReloadOutcomeKind } from './outcome.js';
export { ReloadScheduler } from './scheduler.js';
export type { PassRequest, SchedulerState, SchedulerOptions } from './scheduler.js';
export { Snapshot, changedFiles } from './snapshot.js';
export type { Fingerprint, AsyncReadFile } from './snapshot.js';
export { createChokidarWatcher, chokidarWatcherFactory } from './chokidar-watcher.js';
export type { ChokidarWatcherOptions } from './chokidar-watcher.js';
export type { Watcher, WatcherFactory, WatcherHandlers, WatchEvent, WatchEventKind } from './watcher.js';
