/**
 * What the GPIO driver needs from a chip, in raw electrical levels and BCM pin numbers.
 * Active-low mapping, edge selection and debouncing live in the driver, so the sysfs and the
 * simulated chip behave the same.
 */
export type Level = 0 | 1;

export interface LineConfig {
  readonly direction: 'in' | 'out';
  /** Inputs: deliver level changes to watch() listeners. */
  readonly interrupts: boolean;
  /**
   * Outputs: raw level to drive when the line is claimed for the first time since the chip powered
   * up. An output the chip still holds from an earlier run of the gateway (a restart, not a reboot)
   * keeps its level: a restart must not switch a running compressor off.
   */
  readonly initialLevel?: Level;
}

/** What claiming a line found. */
export interface ClaimedLine {
  /** Outputs: true when the line was already an output and kept its level (initialLevel not applied). */
  readonly held: boolean;
}

export interface EdgeEvent {
  readonly pin: number;
  readonly level: Level;
  /** Milliseconds since the epoch when the level changed. */
  readonly ts: number;
}

export type LinkListener = (up: boolean, cause?: string) => void;

export interface GpioChip {
  readonly kind: 'sysfs' | 'sim';
  /** Chip label (e.g. pinctrl-bcm2711, swarmgate-sim) for logs and errors. */
  readonly label: string;
  /** Claims a line. Rejects with SWG_ERR_GPIO_EXPORT naming the line and why. */
  exportLine(pin: number, config: LineConfig): Promise<ClaimedLine>;
  read(pin: number): Promise<Level>;
  write(pin: number, level: Level): Promise<void>;
  /** Level changes of an exported input; returns the function that stops watching. */
  watch(pin: number, onEdge: (event: EdgeEvent) => void): Promise<() => void>;
  unexport(pin: number): Promise<void>;
  /** Connection up/down (a remote chip); local chips never call it. Returns an unsubscribe function. */
  onLink(listener: LinkListener): () => void;
  /** Releases every line and handle; outputs keep their level and stay claimed in the chip. */
  close(): Promise<void>;
}
