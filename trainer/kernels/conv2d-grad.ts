/**
 * Convolution gradients for the wasm backend as matrix products on the XNNPACK path.
 *
 * With N = batch*outH*outW output positions and K = kH*kW*inC filter taps:
 * - filter gradient `Conv2DBackpropFilter` (missing from tfjs-backend-wasm):
 *   dW[K, outC] = colsT[K, N] @ dy[N, outC], where colsT is the transposed im2col matrix
 *   of x, written in JavaScript straight onto the wasm heap;
 * - input gradient `Conv2DBackpropInput` (the wasm backend's own is a naive loop):
 *   dCols[N, K] = dy[N, outC] @ W[K, outC]^T (one explicit transpose of the small filter,
 *   then XNNPACK), scattered back (col2im) in JavaScript.
 * NCHW tensors are transposed to NHWC around the computation. tfjs computes convolution
 * gradients only for dilation 1 (its Conv2D gradient rejects dilated convolutions).
 */
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { asWasm, callKernel, f32, release, reshapeInfo, transposeInfo, type WasmBackendLike } from './wasm-memory.js';

type MatMul = (backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean) => TensorInfo;

function matMulWith(kernel: KernelFunc): MatMul {
  return (backend, a, b, transposeA, transposeB) => callKernel(kernel, backend, { a, b }, { transposeA, transposeB });
}

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

/** The channels-last geometry both gradients need: output positions N and filter taps K. */
function conv2dGeometry(
  inShapeNHWC: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: Conv2DBackpropFilterAttrs['strides'],
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode: Conv2DBackpropFilterAttrs['dimRoundingMode'],
) {
  const info = backend_util.computeConv2DInfo(inShapeNHWC, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  return {
    batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, kh, kw, sh, sw,
    top: info.padInfo.top,
    left: info.padInfo.left,
    n: batchSize * outHeight * outWidth,
    k: kh * kw * inChannels,
  };
}

/**
 * The replacement-free `Conv2DBackpropFilter`. `batchMatMul` is the (fast) wasm
 * BatchMatMul kernel function to use for the product.
 */
export function makeConv2DBackpropFilter(batchMatMul: KernelFunc): KernelFunc {
  const matMul = matMulWith(batchMatMul);
  return (args) => {
    const backend = asWasm(args.backend);
    let x = args.inputs['x'] as TensorInfo;
    let dy = args.inputs['dy'] as TensorInfo;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const temps: TensorInfo[] = [];
    if (dataFormat === 'NCHW') {
      x = transposeInfo(backend, x, TO_NHWC);
      dy = transposeInfo(backend, dy, TO_NHWC);
      temps.push(x, dy);
    }
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, kh, kw, sh, sw, top, left, n, k } =
      conv2dGeometry(x.shape as [number, number, number, number], filterShape, strides, pad, dimRoundingMode);
    const colsT = backend.makeOutput([k, n], 'float32');
    const xv = f32(backend, x);
    const cv = f32(backend, colsT);
    for (let fy = 0; fy < kh; fy++) {
      for (let fx = 0; fx < kw; fx++) {
        for (let c = 0; c < inChannels; c++) {
          let o = ((fy * kw + fx) * inChannels + c) * n;
          for (let b = 0; b < batchSize; b++) {
            for (let oy = 0; oy < outHeight; oy++) {
              const iy = oy * sh - top + fy;
              if (iy < 0 || iy >= inHeight) {
                cv.fill(0, o, o + outWidth);
                o += outWidth;
                continue;
              }
              const rowBase = (b * inHeight + iy) * inWidth;
              for (let ox = 0; ox < outWidth; ox++) {
                const ix = ox * sw - left + fx;
                cv[o++] = ix < 0 || ix >= inWidth ? 0 : (xv[(rowBase + ix) * inChannels + c] as number);
              }
            }
          }
        }
      }
    }
    const dy2 = reshapeInfo(backend, dy, [n, outChannels]);
    const prod = matMul(backend, colsT, dy2, false, false);
    const out = reshapeInfo(backend, prod, [...filterShape]);
    release(backend, prod, dy2, colsT, ...temps);
    return out;
  };
}

/** Replacement `Conv2DBackpropInput` (see the module comment). */
export function makeConv2DBackpropInput(batchMatMul: KernelFunc): KernelFunc {
  const matMul = matMulWith(batchMatMul);
  return (args) => {
    const backend = asWasm(args.backend);
    let dy = args.inputs['dy'] as TensorInfo;
    const filter = args.inputs['filter'] as TensorInfo;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const temps: TensorInfo[] = [];
    const nchw = dataFormat === 'NCHW';
    const inShapeNHWC = (nchw ? [inputShape[0], inputShape[2], inputShape[3], inputShape[1]] : [...inputShape]) as [
      number,
      number,
      number,
      number,
    ];
    if (nchw) {
      dy = transposeInfo(backend, dy, TO_NHWC);
      temps.push(dy);
    }
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, kh, kw, sh, sw, top, left, n, k } =
      conv2dGeometry(inShapeNHWC, filter.shape as [number, number, number, number], strides, pad, dimRoundingMode);
    const dy2 = reshapeInfo(backend, dy, [n, outChannels]);
    const w2 = reshapeInfo(backend, filter, [k, outChannels]);
    const dcols = matMul(backend, dy2, w2, false, true);
    release(backend, dy2, w2);
    let dx = backend.makeOutput(inShapeNHWC, 'float32');
    const dv = f32(backend, dx);
    const cv = f32(backend, dcols);
    dv.fill(0);
    let src = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++) {
          for (let fy = 0; fy < kh; fy++) {
            const iy = oy * sh - top + fy;
            for (let fx = 0; fx < kw; fx++) {
              const ix = ox * sw - left + fx;
              if (iy >= 0 && iy < inHeight && ix >= 0 && ix < inWidth) {
                const dst = ((b * inHeight + iy) * inWidth + ix) * inChannels;
                for (let c = 0; c < inChannels; c++) dv[dst + c] = (dv[dst + c] as number) + (cv[src + c] as number);
              }
              src += inChannels;
            }
          }
        }
      }
    }
    release(backend, dcols);
    if (nchw) {
      const t = transposeInfo(backend, dx, TO_NCHW);
      release(backend, dx);
      dx = t;
    }
    release(backend, ...temps);
    return dx;
  };
}

export function conv2DBackpropFilterConfig(batchMatMul: KernelFunc): KernelConfig {
  return { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: makeConv2DBackpropFilter(batchMatMul) };
}

export function conv2DBackpropInputConfig(batchMatMul: KernelFunc): KernelConfig {
  return { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: makeConv2DBackpropInput(batchMatMul) };
}
