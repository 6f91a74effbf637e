// Lint rules from STYLE.md: type-checked typescript-eslint, no floating promises, type-only imports,
// no console, process.exit only in flanneld's composition root, and library imports confined to
// the one file that adapts each library to a seam we own.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nodePlugin from 'eslint-plugin-n';

const confined = (name, file) => ({
  name,
  message: `${name} may only be imported in ${file} (it sits behind a seam we own).`,
});

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    plugins: { n: nodePlugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'n/no-process-exit': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            confined('etcd3', 'etcd-lease-store.ts'),
            confined('dockerode', 'dockerode-docker-api.ts'),
            confined('node:child_process', 'run-process.ts or kernel/child-process.ts'),
            confined('child_process', 'run-process.ts or kernel/child-process.ts'),
          ],
        },
      ],
    },
  },
  {
    files: [
      'packages/subnet/src/etcd-lease-store.ts',
      'packages/subnet/src/etcd-*.ts',
      'packages/docker/src/dockerode-docker-api.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Processes the agent runs by design, and test harnesses that start real etcd/flanneld.
    files: [
      // run-process: the one place the backends start ip, bridge and iptables (no shell).
      'packages/backend/src/run-process.ts',
      // kernel/child-process: the long-lived iproute2 children (batch and monitor), no shell.
      'packages/backend/src/kernel/child-process.ts',
      // systemd-notify: Node cannot write to the unix datagram NOTIFY_SOCKET itself.
      'packages/flanneld/src/systemd-notify.ts',
      'packages/*/src/testing/**/*.ts',
      'packages/*/test/**/*.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  { files: ['packages/flanneld/src/main.ts'], rules: { 'n/no-process-exit': 'off' } },
  {
    files: ['packages/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
