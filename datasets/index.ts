export type { Sample, SampleInput } from './sample.js';
