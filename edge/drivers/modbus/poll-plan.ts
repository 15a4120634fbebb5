/**
 * A read plan prepared once per points array. The gateway polls a device with the same PointSpec[]
 * object every time, and specs are immutable, so planning, request closures, labels and result
 * positions are computed on the first read() and reused: at thousands of polls per second the
 * per-poll planning cost more than the decoding.
 */
import type { PointSpec } from '../driver.js';
import { planReads, type PlanOptions, type ReadBlock } from './plan.js';
import { blockRequest, type BlockData, type WireRequest } from './requests.js';
import type { ModbusAddress } from './schema.js';

type Spec = PointSpec<ModbusAddress>;

export interface PreparedBlock {
  readonly block: ReadBlock;
  /** Result position of each of block.points, in the same order. */
  readonly slots: readonly number[];
  /** 'reading holding 0..19', for messages. */
  readonly label: string;
  readonly request: WireRequest<BlockData>;
}

export interface PollPlan {
  readonly blocks: readonly PreparedBlock[];
  /** Result position of every spec (its first occurrence in the points array). */
  readonly slotOf: ReadonlyMap<Spec, number>;
  /** positions[i]: where the reading for points[i] is kept (differs from i only for repeated specs). */
  readonly positions: readonly number[];
}

export function describeBlock(block: Pick<ReadBlock, 'table' | 'start' | 'count'>): string {
  return `reading ${block.table} ${block.start}..${block.start + block.count - 1}`;
}

/** A block with its request and result slots (also used for the halves of a split block). */
export function prepareBlock(block: ReadBlock, slotOf: ReadonlyMap<Spec, number>): PreparedBlock {
  return {
    block,
    slots: block.points.map((planned) => slotOf.get(planned.spec) ?? 0),
    label: describeBlock(block),
    request: blockRequest(block.table, block.start, block.count),
  };
}

function buildPlan(specs: readonly Spec[], options: PlanOptions): PollPlan {
  const slotOf = new Map<Spec, number>();
  const positions = specs.map((spec, i) => {
    const first = slotOf.get(spec);
    if (first !== undefined) return first;
    slotOf.set(spec, i);
    return i;
  });
  return { blocks: planReads(specs, options).map((block) => prepareBlock(block, slotOf)), slotOf, positions };
}

/** Plans per points array, for one driver (one set of plan options). */
export class PollPlanCache {
  // Keyed by the array object itself: a new array (a profile reload) gets a new plan, and a
  // dropped one is collected with its plan.
  private readonly plans = new WeakMap<readonly Spec[], PollPlan>();

  constructor(private readonly options: PlanOptions) {}

  get(specs: readonly Spec[]): PollPlan {
    const cached = this.plans.get(specs);
    // The length check catches a caller that grew or shrank the array in place.
    if (cached && cached.positions.length === specs.length) return cached;
    const plan = buildPlan(specs, this.options);
    this.plans.set(specs, plan);
    return plan;
  }
}
