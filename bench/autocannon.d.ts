/** autocannon ships no types; the bench uses its promise API and reads a few result fields. */
declare module 'autocannon' {
  function autocannon(opts: Record<string, unknown>): Promise<unknown>;
  export default autocannon;
}
