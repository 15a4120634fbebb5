/** The one place strategies are registered: add a file, add it here. */
import type { Strategy } from '../strategy.js';
import { economizer } from './economizer.js';
import { fanSetback } from './fan-setback.js';
import { freezerProtection } from './freezer-protection.js';

export const STRATEGIES: ReadonlyMap<string, Strategy> = new Map([freezerProtection, fanSetback, economizer].map((s) => [s.kind, s]));
