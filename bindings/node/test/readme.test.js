'use strict';
// README "From Node" runs as printed (against the simulator's practice),
// with vap-openemr installed in the application's node_modules.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const { withWorld } = require('./helpers');

const ROOT = path.resolve(__dirname, '..', '..', '..');

function readmeBlock(section, lang) {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const part = text.split(`\n## ${section}\n`)[1].split('\n## ')[0];
  const blocks = [...part.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))];
  return blocks[blocks.length - 1][1];
}

test('README "From Node" runs as written', () => withWorld(async (w) => {
  const app = path.join(w.dir, 'app');
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'bindings', 'node'), path.join(app, 'node_modules', 'vap-openemr'));
  fs.writeFileSync(path.join(app, 'index.js'), readmeBlock('From Node', 'js'));
  const out = execFileSync(process.execPath, ['index.js'], { cwd: app, encoding: 'utf8',
    env: { ...process.env, VAP_CONFIG: w.conf } }).split('\n').filter(Boolean);
  assert.match(out[0], /^found \S+ .*Smith/);
  assert.match(out[1], /^200 application\/\S+ \d+ match\(es\)$/);
  assert.match(out[2], /^Denied 401 /);
  assert.equal(out[out.length - 1], 'within the turn: Bundle');
}));
