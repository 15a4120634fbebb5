/**
 * Neural one-step forecaster: a small MLP (one hidden ReLU layer) that predicts the next reading
 * from the last readings, the time of day / week, and the readings one day and one week earlier
 * (lags derived from the point's own sampling interval). Trained with TensorFlow.js on the point's
 * own recent history; inference runs in plain JS on the exported weights, so scoring a reading
 * costs a few hundred multiply-adds and never touches a tensor (or waits for one).
 *
 * Training is a pure function of (previous weights, data, seed): a fresh optimizer each time and a
 * seeded shuffle, so a detector reloaded from disk retrains exactly as the original would have.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { Ring, Rng } from './stats.js';

export interface ForecasterOptions {
  /** Recent readings fed to the network. */
  readonly lags: number;
  /** Hidden units. */
  readonly hidden: number;
  /** Passes over the training window per retrain. */
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Most recent readings used as training data. */
  readonly trainWindow: number;
  /** Networks trained from different seeds and averaged (see merge()). */
  readonly ensemble: number;
}

/** Everything needed to run the trained network; JSON-serialisable. */
export interface ForecasterModel {
  readonly inputSize: number;
  readonly hidden: number;
  readonly w1: number[];
  readonly b1: number[];
  readonly w2: number[];
  readonly b2: number;
  /** Normalisation of values (from the training window). */
  readonly mean: number;
  readonly std: number;
  /** Seasonal lags in readings (0 = unused), from the median sampling interval. */
  readonly dayLag: number;
  readonly weekLag: number;
  readonly trainedOn: number;
  readonly loss: number;
}

const DAY_MS = 86_400_000;
/** Training yields to the event loop after this many batches (a few ms each). */
const YIELD_EVERY_BATCHES = 8;
const SEASONAL = 4;
const TIME_FEATURES = 4;

/**
 * The smallest spread a point's readings are measured in: a millionth of their level (at least of
 * 1), so that a constant point's deviations are not divided by zero.
 */
export function spreadFloor(level: number): number {
  return 1e-6 * Math.max(1, Math.abs(level));
}

export function inputSize(opts: ForecasterOptions): number {
  return opts.lags + TIME_FEATURES + SEASONAL;
}

/**
 * Fills `out` with the network input for predicting values[target] (target may equal
 * values.length: the reading about to arrive, whose timestamp is `ts`).
 */
export function buildInput(
  values: Ring,
  target: number,
  ts: number,
  lags: number,
  model: Pick<ForecasterModel, 'mean' | 'std' | 'dayLag' | 'weekLag'>,
  out: Float64Array,
): void {
  const { mean, std } = model;
  const norm = (v: number): number => (v - mean) / std;
  const prev = target > 0 ? values.at(target - 1) : mean;
  let k = 0;
  for (let i = 1; i <= lags; i++) out[k++] = target - i >= 0 ? norm(values.at(target - i)) : norm(prev);
  const day = ((ts % DAY_MS) + DAY_MS) % DAY_MS / DAY_MS;
  const week = (((ts / DAY_MS + 3) % 7) + 7) % 7 / 7; // epoch day 0 was a Thursday
  out[k++] = Math.sin(2 * Math.PI * day);
  out[k++] = Math.cos(2 * Math.PI * day);
  out[k++] = Math.sin(2 * Math.PI * week);
  out[k++] = Math.cos(2 * Math.PI * week);
  // Seasonal lags: the reading one period ago and the change since then (0 when out of history).
  for (const lag of [model.dayLag, model.weekLag]) {
    if (lag > 0 && target - lag >= 0) {
      const past = values.at(target - lag);
      out[k++] = norm(past);
      out[k++] = norm(prev) - norm(target - lag - 1 >= 0 ? values.at(target - lag - 1) : past);
    } else {
      out[k++] = norm(prev);
      out[k++] = 0;
    }
  }
}

/** Forward pass in plain JS; returns the prediction in value units. */
export function predict(model: ForecasterModel, input: Float64Array): number {
  // Trained on one value throughout: the network has nothing to say, and its untrained residue (a
  // few hundredths of the floored spread) would read as an error far beyond any the point made.
  if (model.std <= spreadFloor(model.mean)) return model.mean;
  const { inputSize: n, hidden: h, w1, b1, w2 } = model;
  let y = model.b2;
  for (let j = 0; j < h; j++) {
    let a = b1[j] ?? 0;
    for (let i = 0; i < n; i++) a += (input[i] ?? 0) * (w1[i * h + j] ?? 0);
    if (a > 0) y += a * (w2[j] ?? 0);
  }
  return y * model.std + model.mean;
}

/**
 * The forecast's raw surprise at each reading t in [from, values.length): |value − prediction| in
 * the model's standard deviations (what the forecast calibration then ranks).
 */
export function forecastErrors(model: ForecasterModel, values: Ring, timestamps: Ring, lags: number, from: number, input: Float64Array<ArrayBufferLike> = new Float64Array(model.inputSize)): number[] {
  const out: number[] = [];
  for (let t = from; t < values.length; t++) {
    buildInput(values, t, timestamps.at(t), lags, model, input);
    out.push(Math.abs(values.at(t) - predict(model, input)) / model.std);
  }
  return out;
}

/** Sampling-interval-derived seasonal lags that fit in the history. */
export function seasonalLags(timestamps: Ring, capacity: number): { dayLag: number; weekLag: number } {
  const n = timestamps.length;
  const diffs: number[] = [];
  for (let i = Math.max(1, n - 500); i < n; i++) diffs.push(timestamps.at(i) - timestamps.at(i - 1));
  diffs.sort((a, b) => a - b);
  const dt = diffs[Math.floor(diffs.length / 2)] ?? 0;
  if (!(dt > 0)) return { dayLag: 0, weekLag: 0 };
  const day = Math.round(DAY_MS / dt);
  const week = day * 7;
  // A "day" of fewer than 12 readings carries no usable daily shape.
  return { dayLag: day >= 12 && day + 2 < capacity ? day : 0, weekLag: day >= 12 && week + 2 < capacity ? week : 0 };
}

export interface TrainInput {
  readonly values: Ring;
  readonly timestamps: Ring;
  readonly historyCapacity: number;
  readonly previous: ForecasterModel | undefined;
  readonly seed: number;
  /** Called between batches so the event loop (device polling) keeps running. */
  readonly yieldNow: () => Promise<void>;
}

export async function trainForecaster(tf: typeof TF, opts: ForecasterOptions, input: TrainInput): Promise<ForecasterModel> {
  const { values, timestamps } = input;
  const n = values.length;
  const start = Math.max(1, n - opts.trainWindow);
  let s = 0;
  let s2 = 0;
  for (let i = start - 1; i < n; i++) {
    s += values.at(i);
    s2 += values.at(i) ** 2;
  }
  const m = n - start + 1;
  const mean = s / m;
  const std = Math.max(Math.sqrt(Math.max(0, s2 / m - mean * mean)), spreadFloor(mean));
  const lags = seasonalLags(timestamps, input.historyCapacity);
  const norm = { mean, std, ...lags };
  const size = inputSize(opts);
  const count = n - start;
  const xs = new Float32Array(count * size);
  const ys = new Float32Array(count);
  const row = new Float64Array(size);
  for (let t = start; t < n; t++) {
    buildInput(values, t, timestamps.at(t), opts.lags, norm, row);
    xs.set(row, (t - start) * size);
    ys[t - start] = (values.at(t) - mean) / std;
  }
  const h = opts.hidden;
  const k = Math.max(1, Math.round(opts.ensemble));
  const prev = input.previous && input.previous.inputSize === size && input.previous.hidden === h * k ? input.previous : undefined;
  const members: Member[] = [];
  // Batches are counted across epochs and members: a small training (a few batches per epoch)
  // must yield too, or all of it runs in one go while device polls and timers wait.
  let batches = 0;
  const afterBatch = async (): Promise<void> => {
    if (++batches % YIELD_EVERY_BATCHES === 0) await input.yieldNow();
  };
  for (let m = 0; m < k; m++) {
    // Member 0 keeps the detector's seed, so a one-member ensemble is the plain network.
    const rng = new Rng(m === 0 ? input.seed : input.seed + 7919 * m);
    members.push(await trainMember(tf, opts, { xs, ys, count, size }, prev ? memberOf(prev, m, k) : undefined, rng, afterBatch));
  }
  return { ...merge(members, size, h), ...norm, trainedOn: count, loss: members.reduce((a, b) => a + b.loss, 0) / k };
}

/** One network's weights (w1 is size × hidden, row-major). */
interface Member {
  readonly w1: number[];
  readonly b1: number[];
  readonly w2: number[];
  readonly b2: number;
  readonly loss: number;
}

/**
 * The average of k one-hidden-layer networks is itself one such network with k·h hidden units
 * (output weights divided by k), so an ensemble costs nothing new at inference, in the state or
 * in predict(); averaging members trained from different seeds steadies the forecast (and with it
 * the alarms), which otherwise swing with the luck of one initialisation.
 */
function merge(members: readonly Member[], size: number, h: number): Pick<ForecasterModel, 'inputSize' | 'hidden' | 'w1' | 'b1' | 'w2' | 'b2'> {
  const k = members.length;
  const hk = h * k;
  const w1 = new Array<number>(size * hk).fill(0);
  members.forEach((mb, m) => {
    for (let i = 0; i < size; i++) for (let j = 0; j < h; j++) w1[i * hk + m * h + j] = mb.w1[i * h + j] ?? 0;
  });
  return {
    inputSize: size,
    hidden: hk,
    w1,
    b1: members.flatMap((mb) => mb.b1),
    w2: members.flatMap((mb) => mb.w2.map((w) => w / k)),
    b2: members.reduce((a, mb) => a + mb.b2, 0) / k,
  };
}

/** Member m of a merged k-member model (the inverse of merge, for warm starts). */
function memberOf(model: ForecasterModel, m: number, k: number): Omit<Member, 'loss'> {
  const hk = model.hidden;
  const h = hk / k;
  const w1: number[] = [];
  for (let i = 0; i < model.inputSize; i++) for (let j = 0; j < h; j++) w1.push(model.w1[i * hk + m * h + j] ?? 0);
  return { w1, b1: model.b1.slice(m * h, (m + 1) * h), w2: model.w2.slice(m * h, (m + 1) * h).map((w) => w * k), b2: model.b2 };
}

async function trainMember(
  tf: typeof TF,
  opts: ForecasterOptions,
  data: { readonly xs: Float32Array; readonly ys: Float32Array; readonly count: number; readonly size: number },
  prev: Omit<Member, 'loss'> | undefined,
  rng: Rng,
  afterBatch: () => Promise<void>,
): Promise<Member> {
  const { xs, ys, count, size } = data;
  const h = opts.hidden;
  const limit1 = Math.sqrt(6 / size);
  const limit2 = Math.sqrt(6 / h);
  const w1 = tf.variable(tf.tensor2d(prev?.w1 ?? Array.from({ length: size * h }, () => (rng.next() * 2 - 1) * limit1), [size, h]));
  const b1 = tf.variable(tf.tensor1d(prev?.b1 ?? new Array<number>(h).fill(0)));
  const w2 = tf.variable(tf.tensor2d(prev?.w2 ?? Array.from({ length: h }, () => (rng.next() * 2 - 1) * limit2), [h, 1]));
  const b2 = tf.variable(tf.scalar(prev?.b2 ?? 0));
  const optimizer = tf.train.adam(opts.learningRate);
  const huberStep = huberLossOf(tf, w1, b1, w2, b2);
  const order = Array.from({ length: count }, (_, i) => i);
  let lastLoss = 0;
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (let i = count - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        const tmp = order[i] ?? 0;
        order[i] = order[j] ?? 0;
        order[j] = tmp;
      }
      let epochLoss = 0;
      let batches = 0;
      for (let b = 0; b < count; b += opts.batchSize) {
        const idx = order.slice(b, b + opts.batchSize);
        const bx = new Float32Array(idx.length * size);
        const by = new Float32Array(idx.length);
        idx.forEach((r, k) => {
          bx.set(xs.subarray(r * size, (r + 1) * size), k * size);
          by[k] = ys[r] ?? 0;
        });
        const x = tf.tensor2d(bx, [idx.length, size]);
        const y = tf.tensor2d(by, [idx.length, 1]);
        const loss = optimizer.minimize(() => huberStep(x, y) as TF.Scalar, true, [w1, b1, w2, b2]);
        x.dispose();
        y.dispose();
        if (loss) {
          epochLoss += (await loss.data())[0] ?? 0;
          loss.dispose();
        }
        batches++;
        await afterBatch();
      }
      lastLoss = batches > 0 ? epochLoss / batches : 0;
    }
    return {
      w1: Array.from(await w1.data()),
      b1: Array.from(await b1.data()),
      w2: Array.from(await w2.data()),
      b2: (await b2.data())[0] ?? 0,
      loss: lastLoss,
    };
  } finally {
    optimizer.dispose();
    w1.dispose();
    b1.dispose();
    w2.dispose();
    b2.dispose();
  }
}

/**
 * Mean Huber loss (delta 1) of the one-hidden-layer network on a batch, with its gradient written
 * out by hand. tfjs-core registers no gradients by itself (the full `@tensorflow/tfjs` bundle does,
 * for every op, which is what we avoid loading), so the whole forward pass is one custom-gradient
 * op: d loss / d pred = clip(pred − y, −1, 1) / n, back-propagated through the two layers.
 */
export function huberLossOf(tf: typeof TF, w1: TF.Variable, b1: TF.Variable, w2: TF.Variable, b2: TF.Variable): (x: TF.Tensor2D, y: TF.Tensor2D) => TF.Tensor {
  return (x, y) => {
    const n = x.shape[0];
    // Intermediates must go through save(): the engine disposes everything else the forward pass made.
    const op = tf.customGrad((...args: Array<TF.Tensor | TF.GradSaveFunc>) => {
      const [a, c, d, e, save] = args as [TF.Tensor, TF.Tensor, TF.Tensor, TF.Tensor, TF.GradSaveFunc];
      const z = tf.add(tf.matMul(x, a), c);
      const hid = tf.relu(z);
      const err = tf.sub(tf.add(tf.matMul(hid, d), e), y);
      const absErr = tf.abs(err);
      const quad = tf.minimum(absErr, 1);
      save([z, hid, err, d]);
      return {
        value: tf.mean(tf.add(tf.mul(tf.square(quad), 0.5), tf.sub(absErr, quad))),
        gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) => {
          const [sz, sh, se, sd] = saved as [TF.Tensor, TF.Tensor, TF.Tensor, TF.Tensor];
          const g = tf.mul(tf.clipByValue(se, -1, 1), tf.div(dy, n));
          const dz = tf.mul(tf.matMul(g, sd, false, true), tf.cast(tf.greater(sz, 0), 'float32'));
          return [tf.matMul(x, dz, true, false), tf.sum(dz, 0), tf.matMul(sh, g, true, false), tf.sum(g)];
        },
      };
    });
    return op(w1, b1, w2, b2);
  };
}
