/**
 * For the bundled GPU check folder (pack.ts): import every backend package statically so
 * that the bundler includes them, register tfjs-core's gradients, and hand the modules to
 * the backend loader (no package is resolved by name at run time there).
 */
import * as cpu from '@tensorflow/tfjs-backend-cpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import * as tfjsWebGpu from '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as dawn from 'webgpu';
import { provideBackendModules } from '../../trainer/backend/select.js';
import { provideWebGpuModules } from '../../trainer/backend/webgpu.js';

provideBackendModules({ wasm, cpu });
provideWebGpuModules(dawn, tfjsWebGpu);
