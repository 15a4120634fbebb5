import type { Reading } from '../edge/drivers/driver.js';

/** One human line per reading, for the demo. */
export function formatReading(r: Reading, unit?: string): string {
  const time = new Date(r.ts).toISOString().slice(11, 19);
  const value = typeof r.value === 'number' ? (Number.isInteger(r.value) ? String(r.value) : r.value.toFixed(2)) : String(r.value);
  const quality = r.quality === 'good' ? '' : `  [${r.quality}${r.cause ? `: ${r.cause}` : ''}]`;
  return `${time}  ${`${r.device}/${r.point}`.padEnd(36)} ${value}${unit ? ` ${unit}` : ''}${quality}`;
}
