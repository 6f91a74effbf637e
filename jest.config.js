// Three projects, one per level of the test pyramid (see README "Tests"):
//   unit        pure logic and fakes; no root, no network, seconds.
//   integration real etcd / real `ip` in throwaway namespaces (root).
//   e2e         real flanneld processes against a real etcd (root).
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] };
// Tests import workspace packages from source so they run without a build.
const moduleNameMapper = {
  '^@flannel-ts/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  '^@flannel-ts/([a-z-]+)/testing$': '<rootDir>/packages/$1/src/testing/index.ts',
  '^@flannel-ts/docker/docker-api$': '<rootDir>/packages/docker/src/docker-api-index.ts',
};
const common = { rootDir: __dirname, transform, moduleNameMapper, testEnvironment: 'node' };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/packages/*/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/packages/*/test/integration/**/*.int.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/packages/*/test/e2e/**/*.e2e.test.ts'],
    },
  ],
};
