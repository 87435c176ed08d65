// The status bar's and the warnings' rules (src/session.ts, as built into lib/), with the
// clock passed in: `npm test` after `npm run build:lib`.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

// lib/ is ES modules in a package without "type": "module" (webpack wants it so): load the
// module as an .mjs copy, which every Node the install step may bring (Debian's 18 too) reads
// as ESM without --experimental-detect-module (Node 20.10 and later only).
const copy = join(mkdtempSync(join(tmpdir(), 'aifactory-lab-')), 'session.mjs');
copyFileSync(fileURLToPath(new URL('../lib/session.js', import.meta.url)), copy);
const {
  dueWarning,
  formatTimeLeft,
  isInSlurm,
  secondsLeft,
  statusText,
  warningText
} = await import(pathToFileURL(copy).href);

const NOW = new Date('2026-12-06T10:00:00Z');
const SESSION = {
  job_id: '812',
  project: 'ai-alpha',
  partition: 'cpu',
  node: 'cpu1',
  ends_at: '2026-12-06T10:47:00Z',
  gpu_hours_left: 12.5,
  gpu_hours_granted: 50,
  cpu_hours_left: null,
  notes: []
};
const OUTSIDE = {
  job_id: null,
  project: null,
  partition: null,
  node: null,
  ends_at: null,
  gpu_hours_left: null,
  gpu_hours_granted: null,
  cpu_hours_left: null,
  notes: ['this server is not a Slurm job']
};

test('the status text leaves out what is not known', () => {
  assert.equal(statusText(SESSION, NOW), 'ai-alpha · cpu · 0:47 left · 12.5 GPU-h left');
  assert.equal(statusText({ ...SESSION, gpu_hours_left: null }, NOW), 'ai-alpha · cpu · 0:47 left');
  assert.equal(statusText({ ...SESSION, ends_at: null }, NOW), 'ai-alpha · cpu · 12.5 GPU-h left');
  assert.equal(isInSlurm(SESSION), true);
  assert.equal(isInSlurm(OUTSIDE), false);
});

test('time left counts down like a countdown, and never below zero', () => {
  assert.equal(formatTimeLeft(47 * 60), '0:47');
  assert.equal(formatTimeLeft(4 * 60 + 59), '0:05');
  assert.equal(formatTimeLeft(12 * 3600 + 5 * 60), '12:05');
  assert.equal(secondsLeft(SESSION, new Date('2026-12-06T11:00:00Z')), 0);
  assert.equal(secondsLeft({ ...SESSION, ends_at: 'not a date' }, NOW), null);
});

test('each warning fires once, at its threshold', () => {
  const shown = new Set();
  assert.equal(dueWarning(601, shown), null);
  assert.equal(dueWarning(600, shown), 10);
  assert.equal(dueWarning(590, shown), null);
  assert.equal(dueWarning(121, shown), null);
  assert.equal(dueWarning(120, shown), 2);
  assert.equal(dueWarning(60, shown), null);
  assert.equal(dueWarning(null, new Set()), null);
});

test('a page opened late gets the warning it missed, once', () => {
  const fiveLeft = new Set();
  assert.equal(dueWarning(300, fiveLeft), 10);
  assert.equal(dueWarning(270, fiveLeft), null);
  assert.equal(dueWarning(110, fiveLeft), 2);
  const oneLeft = new Set();
  assert.equal(dueWarning(60, oneLeft), 2); // one warning, not two
  assert.equal(dueWarning(30, oneLeft), null);
});

test('the warning says the minutes actually left', () => {
  assert.equal(
    warningText(600),
    'Your session ends in 10 minutes (its wall time): save your work.'
  );
  assert.equal(warningText(290), 'Your session ends in 5 minutes (its wall time): save your work.');
  assert.equal(warningText(20), 'Your session ends in 1 minute (its wall time): save your work.');
});
