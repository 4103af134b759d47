/**
 * Column sums: out[j] = sum over r of x[r, j] for a row-major `rows` x `cols` matrix (the
 * gradient of a broadcast bias, batch-norm statistics: a reduction over leading axes).
 * Rows are streamed in order and added into `out`, which stays in cache; four lanes at a
 * time, the sums run in row order.
 */
export function sumColumns(x: usize, out: usize, rows: i32, cols: i32): void {
  const c4 = cols & ~3;
  const rowBytes = <usize>cols << 2;
  if (rows == 0) {
    memory.fill(out, 0, rowBytes);
    return;
  }
  memory.copy(out, x, rowBytes);
  for (let r = 1; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    let j = 0;
    for (; j + 16 <= c4; j += 16) {
      const o = <usize>j << 2;
      v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(xr + o)));
      v128.store(out + o, f32x4.add(v128.load(out + o, 16), v128.load(xr + o, 16)), 16);
      v128.store(out + o, f32x4.add(v128.load(out + o, 32), v128.load(xr + o, 32)), 32);
      v128.store(out + o, f32x4.add(v128.load(out + o, 48), v128.load(xr + o, 48)), 48);
    }
    for (; j < c4; j += 4) {
      const o = <usize>j << 2;
      v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(xr + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(xr + o));
    }
  }
}
