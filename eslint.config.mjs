// A small rule set for the bugs a daemon full of sockets, timers and promises actually has:
// promises nobody awaits or catches, promises passed where a callback is expected, unsafe `any`,
// and code that is never used. Style is left to the reader.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'native/build/', 'node_modules/', 'coverage/'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'packaging/**/*.ts'],
    extends: [tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // In Node 20's V8 an object literal that starts with a spread and goes on ({ ...a, b } or
    // { ...a, ...b }) gets a hidden class of its own at every evaluation: a new map in the old
    // generation, megamorphic property access, and the object kept through young collections
    // (docs/BENCHMARKS.md, "hidden classes made per login"). Object.assign({}, a, b) builds the same
    // object along cached transitions. A plain copy ({ ...a }) is fine. The code a login runs through;
    // start-up and the command line may spread as they like.
    files: ['src/protocol/**/*.ts', 'src/auth/**/*.ts', 'src/backends/**/*.ts', 'src/crypt/**/*.ts', 'src/cache/**/*.ts', 'src/common/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement:first-child ~ *',
          message: 'An object literal that starts with a spread and goes on makes a new hidden class each time in Node 20: use Object.assign({}, a, b).',
        },
      ],
    },
  },
  {
    // Tests build hostile inputs on purpose and read JSON log lines: `any` is their material there.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
