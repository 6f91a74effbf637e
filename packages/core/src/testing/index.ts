export { createRecordingLogger, waitUntil } from './recording-logger';
export type { LogLine, RecordingLogger } from './recording-logger';
export { ManualClock } from './manual-clock';
