/**
 * Image towers by kind: a typed table, not a string switch.
 *
 * @example
 * ```ts
 * const tower = createImageTower(resolveModelConfig('tiny').vision, 128);
 * ```
 */
import type { ImageTowerKind, VisionConfig } from './config.js';
import { createModifiedResNet } from './resnet.js';
import type { ImageTower } from './tower.js';
import { createViT } from './vit.js';

type VisionConfigOf<K extends ImageTowerKind> = Extract<VisionConfig, { kind: K }>;
export type ImageTowerFactory<K extends ImageTowerKind> = (config: VisionConfigOf<K>, embedDim: number) => ImageTower;

export const imageTowers = {
  vit: createViT,
  resnet: createModifiedResNet,
} as const satisfies { [K in ImageTowerKind]: ImageTowerFactory<K> };

/** Build the tower registered for `config.kind`. */
export function createImageTower<K extends ImageTowerKind>(config: VisionConfigOf<K>, embedDim: number): ImageTower {
  const factories: { [J in ImageTowerKind]: ImageTowerFactory<J> } = imageTowers;
  const factory: ImageTowerFactory<K> = factories[config.kind as K];
  return factory(config, embedDim);
}
