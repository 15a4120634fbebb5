/** Benchmark entries as written to bench/results/latest.json. */
export interface BenchEntry {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** For ratios: what the value is compared against, measured in the same run. */
  readonly baseline?: { readonly name: string; readonly value: number; readonly unit: string };
  readonly ratio?: number;
  /** The target as text, e.g. ">= 0.9" or "<= 150 MB". */
  readonly target?: string;
  readonly meetsTarget?: boolean;
  readonly notes?: string;
}

export function ratioEntry(name: string, value: { value: number; unit: string }, baseline: { name: string; value: number; unit: string }, minRatio: number, notes?: string): BenchEntry {
  const ratio = baseline.value > 0 ? value.value / baseline.value : 0;
  return { name, value: value.value, unit: value.unit, baseline, ratio: Number(ratio.toFixed(3)), target: `ratio >= ${minRatio}`, meetsTarget: ratio >= minRatio, notes };
}

export function atMost(name: string, value: number, unit: string, max: number, notes?: string): BenchEntry {
  return { name, value, unit, target: `<= ${max} ${unit}`, meetsTarget: value <= max, notes };
}

export function atLeast(name: string, value: number, unit: string, min: number, notes?: string): BenchEntry {
  return { name, value, unit, target: `>= ${min} ${unit}`, meetsTarget: value >= min, notes };
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
