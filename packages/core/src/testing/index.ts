export { createRecordingLogger, waitUntil } from './recording-logger';
export type { LogLine, RecordingLogger } from './recording-logger';
