// The ESM entry point, and the package's `exports` for both module systems.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import ziggydb, { open, float, ZiggyError, WrongTypeError, ReplyError } from 'ziggydb';
import * as direct from '../index.mjs';

const require = createRequire(import.meta.url);

test('import and require give the same module', () => {
  const cjs = require('ziggydb');
  assert.equal(ziggydb, cjs, 'the default export is the CommonJS module');
  assert.equal(open, cjs.open);
  assert.equal(WrongTypeError, cjs.WrongTypeError);
  assert.equal(direct.open, open);
  // Every named export of the CommonJS module is a named export here.
  for (const name of Object.keys(cjs)) assert.equal(direct[name], cjs[name], name);
  assert.equal(require('ziggydb/package.json').name, 'ziggydb');
});

test('the ESM API works end to end', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ziggydb-esm-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = open(path.join(dir, 'db'));
  db.set('f', float(2));
  assert.equal(db.get('f'), 2);
  db.execute('RPUSH', 'l', 'a');
  assert.throws(() => db.get('l'), (e) => e instanceof WrongTypeError && e instanceof ZiggyError);
  assert.throws(() => db.execute('INCR', 'l'), ReplyError);
  db.close();
});
