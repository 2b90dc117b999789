#!/usr/bin/env node
// Launches the compiled CLI (`make build` or `npm run build` produces dist/).
import { main } from '../dist/cli/main.js';

await main(process.argv);
