import { describe, expect, it } from 'vitest';
import { selectBackend, tf } from '../../edge/analytics/backend.js';
import { huberLossOf } from '../../edge/analytics/forecaster.js';
import { rng } from './synthetic.js';

/** The same loss in plain JS (mean Huber, delta 1) for finite differences. */
function lossJs(x: number[][], y: number[], w1: number[], b1: number[], w2: number[], b2: number): number {
  const h = b1.length;
  let total = 0;
  for (let r = 0; r < x.length; r++) {
    let pred = b2;
    for (let j = 0; j < h; j++) {
      let a = b1[j] ?? 0;
      (x[r] ?? []).forEach((v, i) => (a += v * (w1[i * h + j] ?? 0)));
      if (a > 0) pred += a * (w2[j] ?? 0);
    }
    const e = Math.abs(pred - (y[r] ?? 0));
    total += e <= 1 ? 0.5 * e * e : e - 0.5;
  }
  return total / x.length;
}

describe('forecaster loss gradient (hand-written, tfjs-core has none registered)', () => {
  it('matches finite differences for every weight', async () => {
    await selectBackend();
    const r = rng(3);
    const n = 6;
    const size = 3;
    const h = 4;
    const x = Array.from({ length: n }, () => Array.from({ length: size }, () => r() * 2 - 1));
    const y = Array.from({ length: n }, () => (r() * 2 - 1) * 3);
    const w1 = Array.from({ length: size * h }, () => r() * 2 - 1);
    const b1 = Array.from({ length: h }, () => r() * 0.5);
    const w2 = Array.from({ length: h }, () => r() * 2 - 1);
    const b2 = 0.1;
    const vars = [tf.variable(tf.tensor2d(w1, [size, h])), tf.variable(tf.tensor1d(b1)), tf.variable(tf.tensor2d(w2, [h, 1])), tf.variable(tf.scalar(b2))] as const;
    const xt = tf.tensor2d(x);
    const yt = tf.tensor2d(y, [n, 1]);
    const step = huberLossOf(tf, ...vars);
    const { value, grads } = tf.variableGrads(() => step(xt, yt) as tf.Scalar, [...vars]);
    expect((await value.data())[0]).toBeCloseTo(lossJs(x, y, w1, b1, w2, b2), 5);
    const analytic = await Promise.all(vars.map(async (v) => Array.from(await (grads[v.name] as tf.Tensor).data())));
    const eps = 1e-4;
    const params = [w1, b1, w2, [b2]];
    params.forEach((p, k) => {
      p.forEach((_, i) => {
        const plus = params.map((q) => [...q]);
        const minus = params.map((q) => [...q]);
        (plus[k] as number[])[i] = (p[i] ?? 0) + eps;
        (minus[k] as number[])[i] = (p[i] ?? 0) - eps;
        const f = (q: number[][]): number => lossJs(x, y, q[0] ?? [], q[1] ?? [], q[2] ?? [], q[3]?.[0] ?? 0);
        expect(analytic[k]?.[i]).toBeCloseTo((f(plus) - f(minus)) / (2 * eps), 3);
      });
    });
    tf.dispose([value, xt, yt, ...Object.values(grads), ...vars]);
  });
});
