/** Model-based fuzzing of a live Mooring server (`mooring fuzz`). */
export { runFuzz, formatFailure, type FuzzOptions, type FuzzReport, type FuzzFailureReport, type FuzzProgress } from './run.js';
export { preflight, PreflightError, type Preflight } from './preflight.js';
export { startFuzzTarget, FUZZ_SERVER_OPTIONS } from './embedded.js';
