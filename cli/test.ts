// Placeholder until the conformance suite lands (issue 4): replaced by the `mooring test` command.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('mooring test: the conformance suite is not built yet\n');
  return 2;
}
