/**
 * Numbers in text people read (work orders, rationales): rounded to what a sensor resolves, with
 * the unit — "-15.3 °C", not "-15.280113246854881". Evidence keeps the exact values.
 */
export function quantity(value: number, unit?: string): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 || Number.isInteger(value) ? 0 : abs >= 1 ? 1 : 2;
  const text = value.toFixed(digits).replace(/^-(0(?:\.0+)?)$/, '$1');
  return unit ? `${text} ${unit}` : text;
}
