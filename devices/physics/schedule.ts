/**
 * Weather and people: the outdoor temperature cycle, occupancy by schedule and cold-room door
 * openings. Everything here is a pure function of (seed, sim time), so stepping in big or small
 * increments gives the same events.
 */
import { hash01 } from './prng.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Channels for hash01 so each kind of event has its own independent stream. */
const CH_OCCUPANCY = 1;
const CH_DOOR = 2;
const CH_DOOR_OFFSET = 3;
const CH_DOOR_LENGTH = 4;
const CH_WEATHER_DAY = 5;

export interface LocalTime {
  /** 0 = Sunday. */
  readonly weekday: number;
  /** Hours since local midnight, fractional. */
  readonly hour: number;
  /** Whole local days since the epoch (for per-day weather). */
  readonly dayIndex: number;
}

export function localTime(simMs: number, utcOffsetMinutes: number): LocalTime {
  const local = simMs + utcOffsetMinutes * 60_000;
  const dayIndex = Math.floor(local / DAY_MS);
  const hour = (local - dayIndex * DAY_MS) / HOUR_MS;
  // 1970-01-01 was a Thursday (4).
  const weekday = (((dayIndex + 4) % 7) + 7) % 7;
  return { weekday, hour, dayIndex };
}

export function isWorkingHours(t: LocalTime): boolean {
  return t.weekday >= 1 && t.weekday <= 5 && t.hour >= 7.5 && t.hour < 18;
}

/**
 * Occupancy in 15-minute slots: mostly occupied in working hours (people leave for lunch or
 * meetings now and then), rarely outside them (cleaners, overtime).
 */
export function occupiedAt(seed: number, simMs: number, utcOffsetMinutes: number): boolean {
  const slot = Math.floor(simMs / (15 * 60_000));
  const t = localTime(simMs, utcOffsetMinutes);
  const p = isWorkingHours(t) ? 0.92 : 0.03;
  return hash01(seed, CH_OCCUPANCY, slot) < p;
}

/**
 * Cold-room door: in each 10-minute slot at most one opening of 20-120 s, likely during working
 * hours (deliveries, picking), rare at night.
 */
export function doorOpenAt(seed: number, simMs: number, utcOffsetMinutes: number): boolean {
  const slotMs = 10 * 60_000;
  const slot = Math.floor(simMs / slotMs);
  const t = localTime(simMs, utcOffsetMinutes);
  const p = isWorkingHours(t) ? 0.35 : 0.02;
  if (hash01(seed, CH_DOOR, slot) >= p) return false;
  const lengthMs = 20_000 + hash01(seed, CH_DOOR_LENGTH, slot) * 100_000;
  const startMs = hash01(seed, CH_DOOR_OFFSET, slot) * (slotMs - lengthMs);
  const within = simMs - slot * slotMs;
  return within >= startMs && within < startMs + lengthMs;
}

/**
 * Outdoor temperature without noise: a daily sine (coldest around 05:00, warmest around 15:00)
 * around a per-day mean that wanders a few degrees from day to day.
 */
export function outdoorBaseC(seed: number, simMs: number, utcOffsetMinutes: number, meanC: number, amplitudeK: number): number {
  const t = localTime(simMs, utcOffsetMinutes);
  // Blend today's and tomorrow's offsets so the mean has no step at midnight.
  const today = (hash01(seed, CH_WEATHER_DAY, t.dayIndex) - 0.5) * 6;
  const tomorrow = (hash01(seed, CH_WEATHER_DAY, t.dayIndex + 1) - 0.5) * 6;
  const dayMean = meanC + today + (tomorrow - today) * (t.hour / 24);
  return dayMean + amplitudeK * Math.sin((2 * Math.PI * (t.hour - 9)) / 24);
}
