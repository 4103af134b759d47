#!/usr/bin/env python3
"""Python reference for bench/augment-image.ts: the same image work with PIL + torchvision.

Per sample: PIL decode + convert('RGB'), two MoCo v2 views at SIZE (the DeCLIP recipe,
exactly as ../shared/bench/anchor_pipeline_py.py builds it), ToTensor + Normalize, written
into preallocated batch tensors. One thread. Prints one JSON line.
Usage: /usr/bin/python3 bench/augment_image_py.py DIR [ROUNDS=1] [SIZE=224]
(DIR holds the *.jpg files the TypeScript benchmark wrote.)
"""
import glob, io, json, os, random, sys, time
import torch, torchvision.transforms as T
from PIL import Image, ImageFilter

class Blur:
    def __call__(self, x):
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))

def main():
    d = sys.argv[1]; rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 224
    torch.set_num_threads(1); random.seed(0); torch.manual_seed(0)
    aug = T.Compose([T.RandomResizedCrop(size, scale=(0.2, 1.0)),
                     T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                     T.RandomGrayscale(p=0.2), T.RandomApply([Blur()], p=0.5),
                     T.RandomHorizontalFlip(), T.ToTensor(),
                     T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    files = sorted(glob.glob(os.path.join(d, '*.jpg')))
    blobs = [open(f, 'rb').read() for f in files]
    out1 = torch.empty(len(blobs), 3, size, size); out2 = torch.empty(len(blobs), 3, size, size)
    def one(i, b):
        img = Image.open(io.BytesIO(b)).convert('RGB')
        out1[i] = aug(img); out2[i] = aug(img)
    for i, b in enumerate(blobs[:8]): one(i, b)  # warm-up
    t_dec = time.perf_counter()
    for _ in range(rounds):
        for b in blobs: Image.open(io.BytesIO(b)).convert('RGB')
    t_dec = time.perf_counter() - t_dec
    t0 = time.perf_counter(); c0 = time.process_time()
    for _ in range(rounds):
        for i, b in enumerate(blobs): one(i, b)
    dt = time.perf_counter() - t0; dc = time.process_time() - c0
    n = len(blobs) * rounds
    print(json.dumps({'samples': n, 'msPerSample': dt * 1000 / n, 'cpuMsPerSample': dc * 1000 / n, 'decodeMsPerSample': t_dec * 1000 / n}))

if __name__ == '__main__':
    main()
