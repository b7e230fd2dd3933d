'use strict';
// `npm install` of this package (and `npm ci` inside it): builds the native module
// ziggydb.node from the Rust sources unless it is already there. With @napi-rs/cli installed
// (`npm ci` here) it runs `napi build --release`, as `npm run build` does; without it
// (`npm install ./bindings/node` from another project, which installs no devDependencies)
// it runs cargo itself and copies the library it builds. Either way it needs Rust (cargo).
// ZIGGYDB_SKIP_BUILD=1 skips it; `npm run build` rebuilds at any time.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'ziggydb.node');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) {
    console.error(`ziggydb: cannot run ${cmd}: ${r.error.message}`);
    if (cmd === 'cargo') console.error('ziggydb: building the native module needs Rust: https://rustup.rs');
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
  return r;
}

/** The path of the `napi` command of @napi-rs/cli, if it is installed. */
function napiCli() {
  try {
    const pkg = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
    const bin = JSON.parse(fs.readFileSync(pkg, 'utf8')).bin.napi;
    return path.join(path.dirname(pkg), bin);
  } catch {
    return undefined;
  }
}

function withCargo() {
  const r = run(
    'cargo',
    ['build', '--release', '--lib', '--manifest-path', path.join(root, 'Cargo.toml'), '--message-format=json-render-diagnostics'],
    { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 },
  );
  let lib;
  for (const line of r.stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'ziggydb_node') {
      lib = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
    }
  }
  if (!lib) {
    console.error('ziggydb: cargo built no native library for ziggydb-node');
    process.exit(1);
  }
  fs.copyFileSync(lib, out + '.tmp');
  fs.renameSync(out + '.tmp', out);
}

if (process.env.ZIGGYDB_SKIP_BUILD) process.exit(0);
if (fs.existsSync(out) && !process.argv.includes('--force')) process.exit(0);
const napi = napiCli();
if (napi) {
  run(process.execPath, [napi, 'build', '--release', '--dts', 'native.d.ts']);
} else {
  withCargo();
}
console.log(`ziggydb: built ${out}`);
