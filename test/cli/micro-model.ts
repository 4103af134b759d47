/** The microscopic model the CLI tests train: a ViT and text tower of width 16, one layer each. */
export const MICRO_MODEL = {
  preset: 'tiny',
  embedDim: 16,
  vision: { kind: 'vit', imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2 },
  text: { vocabSize: 300, contextLength: 12, width: 16, layers: 1, heads: 2 },
  simsiam: { projector: [16, 16, 16], predictorHidden: 8 },
} as const;
