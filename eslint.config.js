// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**', 'out/**', 'augment/image/wasm/assembly/**', 'trainer/kernels/wasm/assembly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports (house style).' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Randomness is injected and seeded: take an Rng from core/rng.' },
      ],
    },
  },
  {
    // Layering: lower layers never import from higher ones; tfjs lives in trainer/ only.
    files: ['core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../datasets/*', '../augment/*', '../pipeline/*', '../trainer/*', '../cli/*', '@tensorflow/*', 'rxjs', 'rxjs/*'] }] },
  },
  {
    files: ['datasets/**/*.ts', 'augment/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../pipeline/*', '../trainer/*', '../cli/*', '@tensorflow/*', 'rxjs', 'rxjs/*'] }] },
  },
  {
    files: ['pipeline/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../trainer/*', '../cli/*', '@tensorflow/*'] }] },
  },
  {
    files: ['trainer/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../cli/*'] }] },
  },
);
