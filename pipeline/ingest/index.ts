export { ingestUrls, rankIndexPathFor, buildIndex } from './ingest.js';
export type { IngestOptions, IngestProgress, IngestResult, ShardStats, ExistingPolicy } from './ingest.js';
export { Downloader, DEFAULT_USER_AGENT } from './download.js';
export type { DownloadOptions, DownloadOutcome, DownloadFailure } from './download.js';
export { processImage, planResize, encodeRgb, resize, RESIZE_MODES, ENCODINGS, DEFAULT_IMAGE_JOB } from './image.js';
export type { ImageJobOptions, ImageOutcome, ImageFailure, ResizeMode, Encoding } from './image.js';
