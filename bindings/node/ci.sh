#!/usr/bin/env bash
# CI for the Node.js binding (bindings/node): install the npm dependencies, build the native
# module in release, run the node --test suite, install the package into a scratch project
# the way a user does (`npm install <path>`) and use it from CommonJS and ESM, and run the
# quick benchmarks (calls against the Rust library; waiting across processes). Needs
# Node >= 20, npm and cargo. Run from anywhere: bash bindings/node/ci.sh
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "bindings/node: Node >= 20 is needed, found $(node --version)" >&2
    exit 1
fi

echo "== bindings/node: npm ci (Node $(node --version), npm $(npm --version))"
# The install script would build too; the build is the next step, once, in release.
npm ci --ignore-scripts --no-audit --no-fund

echo "== bindings/node: npm run build (napi build --release)"
npm run build

echo "== bindings/node: node --test"
npm test

echo "== bindings/node: npm install of the package into a scratch project"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(
    cd "$scratch"
    npm init -y >/dev/null
    npm install --no-audit --no-fund "$here" >/dev/null
    node -e "
        const z = require('ziggydb');
        const db = z.open(process.argv[1]);
        db.set('k', { from: 'require' });
        if (db.get('k').from !== 'require') throw new Error('CommonJS round trip failed');
        db.close();
    " "$scratch/db-cjs"
    node --input-type=module -e "
        import { open } from 'ziggydb';
        const db = open(process.argv[1]);
        db.set('k', 'from import');
        if (db.get('k') !== 'from import') throw new Error('ESM round trip failed');
        db.close();
    " "$scratch/db-esm"
)
echo "installed and used from CommonJS and ESM"

echo "== bindings/node: quick benchmark"
node bench.js --quick
node bench_wait.js --quick
