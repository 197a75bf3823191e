'use strict';
const assert = require('node:assert/strict');
const { World, SECRET } = require('./world');

// Text that must never appear in an error: the client secret, and the shapes
// of a JWT access/id token and of OpenEMR's refresh tokens.
const FORBIDDEN = [SECRET, 'eyJ', 'def502'];

function assertClean(e) {
  const util = require('node:util');
  for (const text of [String(e), e.message, e.stack || '', util.inspect(e), JSON.stringify(e)]) {
    for (const bad of FORBIDDEN) assert.ok(!text.includes(bad), `${e.name} carries a secret: ${text}`);
  }
}

// Runs fn(world) against a fresh practice, torn down afterwards.
async function withWorld(fn) {
  const w = await new World().start();
  try { return await fn(w); } finally { await w.stop(); }
}

async function rejectsWith(cls, promise) {
  let caught = null;
  try { await promise; } catch (e) { caught = e; }
  assert.ok(caught, `resolved; want ${cls.name}`);
  assert.equal(caught.constructor, cls, `${caught.name}: ${caught.message}; want ${cls.name}`);
  assert.equal(caught.name, cls.name);
  assert.ok(caught.message && !caught.message.includes('\n'));
  assertClean(caught);
  return caught;
}

module.exports = { World, withWorld, rejectsWith, assertClean };
