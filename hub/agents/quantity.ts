/**
 * Quantities: numbers with their units. Text people read (work orders, rationales) and the one
 * temperature conversion the agents use: they reason in °C (differences in K), while a facility
 * point may read and take °F or K (its `unit` in the facility model).
 */

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

export type TemperatureUnit = 'degC' | 'degF' | 'K';

/** Every spelling of a temperature unit the gateways pass on (profiles, BACnet, OPC UA, Haystack). */
const TEMPERATURE_SPELLINGS: Readonly<Record<string, TemperatureUnit>> = {
  degC: 'degC', '°C': 'degC', '℃': 'degC', C: 'degC',
  degF: 'degF', '°F': 'degF', '℉': 'degF', F: 'degF',
  K: 'K', degK: 'K', '°K': 'K',
};

/** The temperature units a point may declare, as people write them in the facility model. */
export const TEMPERATURE_UNIT_NAMES: readonly string[] = Object.keys(TEMPERATURE_SPELLINGS);

/** The temperature unit a point declares: none means °C; undefined when the agents cannot convert it. */
export function temperatureUnit(unit: string | undefined): TemperatureUnit | undefined {
  if (unit === undefined) return 'degC';
  return Object.hasOwn(TEMPERATURE_SPELLINGS, unit) ? TEMPERATURE_SPELLINGS[unit] : undefined;
}

const SCALE: Readonly<Record<TemperatureUnit, number>> = { degC: 1, degF: 1.8, K: 1 };
const OFFSET: Readonly<Record<TemperatureUnit, number>> = { degC: 0, degF: 32, K: 273.15 };
/** What a temperature is shown with, and a difference of temperatures. */
const SYMBOL: Readonly<Record<TemperatureUnit, { readonly level: string; readonly difference: string }>> = {
  degC: { level: '°C', difference: 'K' },
  degF: { level: '°F', difference: '°F' },
  K: { level: 'K', difference: 'K' },
};

/** Float noise of a conversion (73.4 °F, not 73.40000000000001) is not worth writing to a setpoint or showing. */
const tidy = (v: number): number => Math.round(v * 1e9) / 1e9;

/** A temperature in `unit` as °C. */
export function toCelsius(value: number, unit: TemperatureUnit): number {
  return unit === 'degC' ? value : (value - OFFSET[unit]) / SCALE[unit];
}

/** A temperature in °C as `unit`. */
export function fromCelsius(celsius: number, unit: TemperatureUnit): number {
  return unit === 'degC' ? celsius : tidy(celsius * SCALE[unit] + OFFSET[unit]);
}

/** A temperature difference (or a rate: K/h) in K as `unit`: scaled, never offset. */
export function kelvinsIn(kelvins: number, unit: TemperatureUnit): number {
  return unit === 'degF' ? tidy(kelvins * SCALE.degF) : kelvins;
}

/** A temperature given in °C, as text in `unit` ("73.4 °F"). */
export function temperatureText(celsius: number, unit: TemperatureUnit): string {
  return quantity(fromCelsius(celsius, unit), SYMBOL[unit].level);
}

/** A temperature difference given in K, as text in `unit` ("3.6 °F", "2 K"). */
export function differenceText(kelvins: number, unit: TemperatureUnit): string {
  return quantity(kelvinsIn(kelvins, unit), SYMBOL[unit].difference);
}
