/**
 * The Mooring server conformance suite (`mooring/conformance`).
 *
 *   const report = await runSuite({ url, tokens: [t1, t2], select: ['AUTH', 'SUB-8'] });
 *   report.cases  // id, rules, level, outcome (pass|fail|warn|info|skip), detail, findings, transcript
 */
export { runSuite, selectCases, selectionProblem, matches, probe, exitCodeOf, LANES, type RunOptions } from './runner.js';
export { SetupError, checkUrl } from './preflight.js';
export { allCases } from './cases/index.js';
export { FaultProxy, type ProxyRule, type ProxyOptions, type Direction } from './proxy/index.js';
export { FrameReader, type Frame } from './proxy/frames.js';
export { processServer, type ServerControl, type ProcessServerOptions } from './server-control.js';
export { startEmbedded, EMBEDDED_SERVER_OPTIONS, FAILING_ACTION } from './embedded.js';
export { consoleReporter } from './reporters/console.js';
export { toJson } from './reporters/json.js';
export { toJunit } from './reporters/junit.js';
export { toHtml } from './reporters/html.js';
export { RULES, serverSuiteRules } from './rules.js';
export type { CaseDef, CaseResult, SuiteReport, Outcome, Finding, Need } from './types.js';
export type { CaseContext, Capabilities } from './context.js';
