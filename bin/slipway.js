#!/usr/bin/env node
// The `slipway` command: runs the compiled CLI (`make build` produces dist/).
import '../dist/cli/bin.js';
