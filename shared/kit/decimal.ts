/**
 * A number written in decimal ("21.5", "-3", "1e3"), as people and JSON write them. Number()
 * also reads "0x10", "0b11", "" and " 1e3 " (hex, binary, nothing, spaces), which in a setpoint
 * or a URL parameter are mistakes to refuse, not numbers to guess.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The number `text` spells in decimal, or undefined when it is not one (Infinity for 1e400). */
export function parseDecimal(text: string): number | undefined {
  return DECIMAL.test(text) ? Number(text) : undefined;
}
