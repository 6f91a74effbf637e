export type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendLeaseData,
  ExternalInterface,
} from './backend';
export { createAllocBackend } from './alloc-backend';
export { IpBinaryNotFoundError, IpCommandError } from './ip-runner';
export type { FailedBatchLine, IpCommandFailure, IpRunner } from './ip-runner';
export { createExecIpRunner } from './exec-ip-runner';
export type { ExecIpRunnerOptions } from './exec-ip-runner';
