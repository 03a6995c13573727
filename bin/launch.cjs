// Shared by the npm `bin` entries: runs one program from the bundle made by `npm run build`
// (dist/main.cjs) with the node that started us, after checking that node is new enough.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const MIN_NODE_MAJOR = 20;

module.exports = function launch(program) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    process.stderr.write(`${program}: needs Node ${MIN_NODE_MAJOR} or newer (this is ${process.version}).\n`);
    process.exitCode = 1;
    return;
  }
  // The AWS SDK warns on every run under Node 20 that SDK versions published after January
  // 2027 will need Node 22; the SDK here is pinned by this package, so the notice is ours to
  // act on, not the user's.
  if (major < 22 && process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  }
  const bundle = path.join(__dirname, '..', 'dist', 'main.cjs');
  if (!fs.existsSync(bundle)) {
    process.stderr.write(`${program}: ${bundle} is missing; run \`npm run build\` first.\n`);
    process.exitCode = 1;
    return;
  }
  require(bundle).main(program);
};
