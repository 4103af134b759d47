export * from './source.js';
export * from './synthetic.js';
export * from './folder.js';
export * from './csv.js';
export * from './fashion-mnist.js';
export { openIdx, MAX_IDX_RECORDS, type IdxFile } from './idx.js';
export { imageExtensionOf, keyFromPath, IMAGE_FILE_EXTENSIONS } from './images.js';
export { converters, CONVERTER_KINDS, type ConverterKind, type ConverterArgs } from './registry.js';
export * from './url-list.js';
