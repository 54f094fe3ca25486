import { pyTarget } from '/work/main/conformance/test/py-fixtures.ts';
import { runSuite } from '/work/main/conformance/runner.ts';
const args = ['--max-buffered-bytes', '1048576', '--max-payload-bytes', '65536', '--history-size', '100'];
for (let i = 0; i < 2; i++) {
  const t = await pyTarget({ args });
  const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps, select: ['LIMIT-3'] });
  console.log(r.cases.map((c) => `${c.id} ${c.outcome} ${c.detail}`).join('\n'));
  await t.close();
}
