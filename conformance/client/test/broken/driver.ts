/** `node --import tsx driver.ts <break>`: a broken reference client behind the Node driver (breaks.ts). */
import { runNodeDriver } from '../../drivers/node.js';
import { BREAKS } from './breaks.js';

const name = process.argv[2] ?? '';
const b = BREAKS[name];
if (!b) {
  process.stderr.write(`unknown break "${name}"; one of ${Object.keys(BREAKS).join(', ')}\n`);
  process.exit(2);
}
runNodeDriver(b.hooks, `broken reference client: ${name}`);
