/**
 * GpioChip on the kernel sysfs interface through onoff. onoff is loaded lazily: it needs the
 * native epoll addon, which only matters on the gateway hardware. onoff always works on
 * /sys/class/gpio; sysfsRoot only tells where to look for the chip base.
 */
import type { Gpio as OnoffGpio } from 'onoff';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import { readFileSync } from 'node:fs';
import type { ClaimedLine, EdgeEvent, GpioChip, Level, LineConfig, LinkListener } from './chip.js';
import { resolveSysfsBase, sysfsLine, type SysfsBase } from './sysfs-base.js';
import { DEFAULT_SYSFS_ROOT, type GpioSysfsChipSettings } from './settings.js';

type GpioClass = typeof OnoffGpio;

export async function loadOnoff(): Promise<GpioClass> {
  try {
    const mod = (await import('onoff')) as { Gpio?: GpioClass; default?: { Gpio: GpioClass } };
    const Gpio = mod.Gpio ?? mod.default?.Gpio;
    if (!Gpio) throw new Error('onoff does not export Gpio');
    return Gpio;
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_GPIO_UNAVAILABLE', `the onoff GPIO module cannot be loaded (${errorMessage(err)}); configure chip: { kind: sim, host, port } or rebuild onoff/epoll on the gateway`, {
      cause: err,
    });
  }
}

const EXPORT_HINTS: Readonly<Record<string, string>> = {
  EBUSY: 'the line is in use by another driver or process (see /sys/kernel/debug/gpio; check dtoverlays such as w1-gpio or spi)',
  EACCES: 'permission denied: add the gateway user to the gpio group or grant access to /sys/class/gpio',
  EPERM: 'permission denied: add the gateway user to the gpio group or grant access to /sys/class/gpio',
  EINVAL: 'the kernel has no such line: the chip base is probably wrong (Pi 4 kernels >= 6.6 use 512, Pi 5 uses 571); set chip.base or chip.label',
  ENOENT: 'the line disappeared or sysfs GPIO is not enabled in this kernel',
};

/** A failed export as a SwarmgateError that names the BCM pin, the sysfs line and the base used. */
export function exportError(pin: number, line: number, base: SysfsBase, err: unknown): SwarmgateError {
  const code = (err as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? code : 'error';
  const hint = EXPORT_HINTS[errno] ?? errorMessage(err);
  const chip = base.label ? `${base.label}, base ${base.base}` : `configured base ${base.base}`;
  return new SwarmgateError('SWG_ERR_GPIO_EXPORT', `cannot export BCM pin ${pin} as sysfs gpio${line} (${chip}): ${errno}: ${hint}`, {
    cause: err,
    details: { pin, line, base: base.base, label: base.label, errno },
  });
}

/**
 * Outputs this process drives, by sysfs line. They outlive a chip handle (a driver restart): the
 * handle is reused rather than re-created, and the kernel keeps the line exported at its level
 * when the process exits, so the next run finds it held.
 */
const heldOutputs = new Map<number, OnoffGpio>();

/**
 * The direction sysfs reports for an exported line, or undefined when the line is not exported.
 * onoff always works on /sys/class/gpio (sysfsRoot only locates the chip base), so this does too.
 */
function exportedDirection(line: number): string | undefined {
  try {
    return readFileSync(`${DEFAULT_SYSFS_ROOT}/gpio${line}/direction`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export class SysfsChip implements GpioChip {
  readonly kind = 'sysfs' as const;
  readonly #lines = new Map<number, OnoffGpio>();
  readonly #outputs = new Set<number>();

  private constructor(
    private readonly Gpio: GpioClass,
    private readonly base: SysfsBase,
  ) {}

  get label(): string {
    return this.base.label || `sysfs base ${this.base.base}`;
  }

  /** Rejects with SWG_ERR_GPIO_UNAVAILABLE when sysfs GPIO cannot be used on this machine. */
  static async open(settings: Omit<GpioSysfsChipSettings, 'kind'>): Promise<SysfsChip> {
    const Gpio = await loadOnoff();
    if (!Gpio.accessible) throw unavailable();
    const base = resolveSysfsBase(settings.sysfsRoot ?? DEFAULT_SYSFS_ROOT, settings);
    return new SysfsChip(Gpio, base);
  }

  async exportLine(pin: number, config: LineConfig): Promise<ClaimedLine> {
    if (this.#lines.has(pin)) return { held: false };
    const line = sysfsLine(pin, this.base);
    if (config.direction === 'out') {
      const reused = heldOutputs.get(line);
      // An output already exported by an earlier run keeps its level: direction is left alone.
      const held = reused !== undefined || exportedDirection(line) === 'out';
      try {
        // 'high'/'low' set the level atomically with the direction (no glitch on the relay).
        const gpio = reused ?? new this.Gpio(line, config.initialLevel === undefined ? 'out' : config.initialLevel === 1 ? 'high' : 'low', 'none', { reconfigureDirection: false });
        heldOutputs.set(line, gpio);
        this.#lines.set(pin, gpio);
        this.#outputs.add(pin);
        return { held };
      } catch (err) {
        throw exportError(pin, line, this.base, err);
      }
    }
    // The line is an input now: a handle this process held for it as an output is gone.
    heldOutputs.delete(line);
    try {
      // Edges on both flanks: the driver selects rising/falling on the active-low mapped value.
      const gpio = config.interrupts ? new this.Gpio(line, 'in', 'both') : new this.Gpio(line, 'in');
      this.#lines.set(pin, gpio);
      return { held: false };
    } catch (err) {
      throw exportError(pin, line, this.base, err);
    }
  }

  #gpio(pin: number): OnoffGpio {
    const gpio = this.#lines.get(pin);
    if (!gpio) throw new SwarmgateError('SWG_ERR_GPIO_EXPORT', `BCM pin ${pin} is not exported`);
    return gpio;
  }

  async read(pin: number): Promise<Level> {
    return (await this.#gpio(pin).read()) === 1 ? 1 : 0;
  }

  async write(pin: number, level: Level): Promise<void> {
    await this.#gpio(pin).write(level);
  }

  async watch(pin: number, onEdge: (event: EdgeEvent) => void): Promise<() => void> {
    const gpio = this.#gpio(pin);
    const callback = (err: Error | null | undefined, value: 0 | 1): void => {
      if (!err) onEdge({ pin, level: value, ts: Date.now() });
    };
    gpio.watch(callback);
    return () => gpio.unwatch(callback);
  }

  async unexport(pin: number): Promise<void> {
    const gpio = this.#lines.get(pin);
    this.#lines.delete(pin);
    if (this.#outputs.delete(pin)) {
      // An output is released on purpose: the line goes back to the kernel's default.
      heldOutputs.delete(sysfsLine(pin, this.base));
    }
    gpio?.unexport();
  }

  onLink(_listener: LinkListener): () => void {
    return () => undefined;
  }

  /** Releases the inputs; outputs stay exported at their level (see heldOutputs). */
  async close(): Promise<void> {
    for (const pin of [...this.#lines.keys()]) {
      if (this.#outputs.has(pin)) {
        this.#lines.get(pin)?.unwatchAll();
        this.#lines.delete(pin);
        this.#outputs.delete(pin);
      } else {
        await this.unexport(pin);
      }
    }
  }
}

export function unavailable(cause?: unknown): SwarmgateError {
  return new SwarmgateError(
    'SWG_ERR_GPIO_UNAVAILABLE',
    `sysfs GPIO is not accessible here (${DEFAULT_SYSFS_ROOT}/export cannot be opened); on the gateway check permissions, elsewhere configure chip: { kind: sim, host, port }`,
    cause === undefined ? {} : { cause },
  );
}
