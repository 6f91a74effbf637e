export { FakeIpRunner } from './fake-ip-runner';
export type { FakeIpAnswer, FakeIpRunnerOptions } from './fake-ip-runner';
