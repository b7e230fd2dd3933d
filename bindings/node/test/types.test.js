'use strict';
// index.d.ts: a TypeScript program using the API compiles under --strict, and the calls it
// marks as errors are rejected.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('the TypeScript declarations compile against documented usage', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--esModuleInterop', path.join(__dirname, 'types', 'usage.ts')],
    { cwd: path.join(__dirname, '..'), encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
