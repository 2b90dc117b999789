/** Entry point of the `slipway` command (bin/slipway.js runs the compiled copy of this file). */
import { main } from './main.js';

await main(process.argv);
