/**
 * Streaming anomaly detection for the gateway.
 *
 * Per reading call `await detector.score(reading.ts, reading.value)` on that point's
 * PointDetector (one per numeric point, in time order); it returns a calibrated score in [0,1]
 * (−log10 nominal tail probability / 24: 0.5 ≈ 1e-12; see detector.ts). Training of the neural
 * forecaster is scheduled by the detector itself every `retrainEvery` readings and runs in the
 * background in small awaited batches. Persist with `detector.save(dir)` and
 * `PointDetector.load(dir)`. Call `selectBackend()` once at start-up (score() also does it lazily)
 * and report `currentBackend()` as a metric.
 */
export { PointDetector, DEFAULT_DETECTOR_OPTIONS, resolveOptions } from './detector.js';
export type { DetectorOptions, DetectorOptionsInput, DetectorPhase, DetectorState, ModelSource, ScoreDetail } from './detector.js';
export { selectBackend, currentBackend } from './backend.js';
export type { BackendName } from './backend.js';
export { AnalyticsConfigSchema, AnalyticsPointSchema, type AnalyticsConfig, type AnalyticsPointConfig } from './schema.js';
export { scoreCsv, readSeriesCsv, parseTimestamp } from './csv.js';
export type { ScoreCsvOptions, ScoreCsvResult, CsvRow } from './csv.js';
export { exportPrior, encodePrior, readPrior, detectorFromPrior, levelOffset, loadDetector, type PriorStartedDetector } from './prior.js';
