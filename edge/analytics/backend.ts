/**
 * TensorFlow.js backend selection for the detector: tfjs-node when it happens to be installed
 * (never a dependency), else WASM, else the pure-JS CPU backend. Chosen once per process; the
 * choice is logged and exposed for the gateway's metrics.
 *
 * Only tfjs-core is imported statically: the detector needs core ops and an optimizer, not the
 * layers/converter/data/webgl parts of the `@tensorflow/tfjs` bundle (about 100 MB of RSS once
 * loaded). Backends are imported only when tried, so a gateway on WASM never loads the CPU one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createLogger } from '../../shared/kit/log.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const log = createLogger('analytics');
let selected: Promise<BackendName> | undefined;
let current: BackendName | undefined;

async function trySet(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && (await tf.ready().then(() => tf.getBackend() === name));
  } catch (err) {
    log.debug({ backend: name, err: String(err) }, 'tfjs backend unavailable');
    return false;
  }
}

/** Picks the best available backend (idempotent); resolves to its name. */
export function selectBackend(prefer?: BackendName): Promise<BackendName> {
  selected ??= (async () => {
    const order: BackendName[] = prefer ? [prefer, 'tensorflow', 'wasm', 'cpu'] : ['tensorflow', 'wasm', 'cpu'];
    for (const name of order) {
      if (name === 'tensorflow') {
        try {
          // A variable specifier keeps bundlers and tsc from requiring the optional package.
          const pkg = '@tensorflow/tfjs-node';
          await import(pkg);
        } catch {
          continue;
        }
      }
      if (name === 'wasm' || name === 'cpu') {
        try {
          await (name === 'wasm' ? import('@tensorflow/tfjs-backend-wasm') : import('@tensorflow/tfjs-backend-cpu'));
        } catch {
          continue;
        }
      }
      if (await trySet(name)) {
        current = name;
        log.info({ backend: name }, 'anomaly detector: tensorflow.js backend selected');
        return name;
      }
    }
    throw new Error('no TensorFlow.js backend could be initialised');
  })();
  return selected;
}

/** The backend in use, or undefined before selectBackend() resolved. */
export function currentBackend(): BackendName | undefined {
  return current;
}

export { tf };
