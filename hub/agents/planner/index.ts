export * from './model.js';
export { plan, parseObjective } from './planner.js';
export { replan } from './replan.js';
export { MEASURES, type MeasureSpec } from './measures.js';
