#!/usr/bin/env node
// npm `bin` entry: runs the ssm-session bundle made by `npm run build` with the node on PATH.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const bundle = path.join(__dirname, '..', 'dist', 'ssm-session.cjs');
if (fs.existsSync(bundle)) {
  require(bundle);
} else {
  process.stderr.write(`ssm-session: ${bundle} is missing; run \`npm run build\` first.\n`);
  process.exitCode = 1;
}
