import { Worker } from 'node:worker_threads';
const t0 = performance.now();
const code = `const t0=performance.now(); import('tsx/esm/api').then(async (tsx) => { const g = await tsx.tsImport(${JSON.stringify('file:///work/wt-dp/trainer/backend/gradients.ts')}, ${JSON.stringify(import.meta.url)}); const m = await tsx.tsImport(${JSON.stringify('file:///work/wt-dp/trainer/backend/select.ts')}, ${JSON.stringify(import.meta.url)}); const t1=performance.now(); await g.ensureGradients(); const t2=performance.now(); await m.selectBackend({backend:'wasm', log: ()=>{}}); const t3=performance.now(); const r = await tsx.tsImport(${JSON.stringify('file:///work/wt-dp/trainer/replica.ts')}, ${JSON.stringify(import.meta.url)}); console.log('import', t1-t0, 'grads', t2-t1, 'wasm', t3-t2, 'replica import', performance.now()-t3); });`;
const w = new Worker(code, { eval: true });
w.on('exit', () => console.log('total', performance.now() - t0));
