export { parseSubnetEnv, renderSubnetEnv } from './subnet-env';
export type { PreviousSubnetEnv, SubnetEnv } from './subnet-env';
export { FileWriteError, readPreviousSubnetEnv, writeFileAtomic } from './subnet-file';
