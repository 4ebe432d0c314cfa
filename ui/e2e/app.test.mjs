// End-to-end: the real built app (src-tauri) under Xvfb, driven through
// WebKitWebDriver, beside a `branchline serve` peer on loopback.
//
// Run by scripts/test.sh after the Rust tests: `node --test ui/e2e/app.test.mjs`.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  cli,
  cliJson,
  closeApp,
  eventually,
  freeUdpPort,
  launchApp,
  removeDir,
  start,
  startXvfb,
  stop,
  stopAll,
  tempDir,
} from './harness.mjs';

// CI keeps them under target/; README's pictures are refreshed with
// BRANCHLINE_SCREENSHOTS=docs/screenshots.
const SHOTS = process.env.BRANCHLINE_SCREENSHOTS || join(ROOT, 'target', 'e2e-screenshots');
mkdirSync(SHOTS, { recursive: true });
const dirs = [];
after(async () => {
  await stopAll();
  for (const d of dirs) removeDir(d);
});

async function shot(driver, name) {
  writeFileSync(join(SHOTS, `${name}.png`), await driver.screenshot());
}

/** The next weekday after today (branches in the demo are open 09:00-20:00 then). */
function nextWeekday() {
  const d = new Date();
  do d.setDate(d.getDate() + 1);
  while (d.getDay() === 0 || d.getDay() === 6);
  // The local date, as the app's node reads it (toISOString would give UTC's).
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Submit the open form and wait for its dialog to close (or fail with its error). */
async function submit(driver) {
  await driver.click('[data-testid="form-submit"]');
  await driver.waitUntil(
    `const err = document.querySelector('[data-testid="form-error"]');
     if (err && err.textContent.trim()) return 'error: ' + err.textContent;
     return !document.querySelector('[data-testid="form-submit"]') && !document.querySelector('[role="dialog"]');`,
    10000,
    'the form to close',
  ).then((r) => {
    if (typeof r === 'string') throw new Error(`the form was refused: ${r}`);
  });
}

async function rowWith(driver, text, timeout = 10000) {
  return driver.waitUntil(
    `return [...document.querySelectorAll('[data-testid="row"]')].some(r => r.textContent.includes(${JSON.stringify(text)}))`,
    timeout,
    `a row showing ${text}`,
  );
}

async function clickRowWith(driver, text) {
  await rowWith(driver, text);
  await driver.exec(
    `[...document.querySelectorAll('[data-testid="row"]')].find(r => r.textContent.includes(${JSON.stringify(text)})).click()`,
  );
}

test('a new install offers join, start, or the demo', async () => {
  const x = await startXvfb();
  const empty = tempDir('empty');
  dirs.push(empty);
  const app = await launchApp({ display: x.display, data: empty, port: await freeUdpPort() });
  try {
    await app.waitFor('[data-testid="firstrun-demo"]', 20000);
    await app.waitFor('[data-testid="firstrun-new"]');
    await app.waitFor('[data-testid="firstrun-join"]');
    await shot(app, 'first-run');
  } finally {
    await closeApp(app);
    await stop(x);
  }
});

test('the app works a branch day beside a live peer', async (t) => {
  const x = await startXvfb();
  const a = tempDir('app');
  const b = tempDir('laptop');
  dirs.push(a, b);
  removeDir(b);
  await cli(a, ['demo', '--small']);
  const [portA, portB] = [await freeUdpPort(), await freeUdpPort()];
  const app = await launchApp({ display: x.display, data: a, port: portA });
  let peer;
  const serveB = () =>
    start(CLI_PATH(), ['--data', b, 'serve', '--listen', `127.0.0.1:${portB}`, '--no-mdns']);
  try {
    await app.waitFor('[data-testid="dashboard"][data-ready="true"]', 20000, 'an interactive dashboard');
    t.diagnostic(`dashboard interactive ${Math.round(performance.now() - app.launchedAt)} ms after the session was requested`);
    await shot(app, 'dashboard');

    // Say who is at the desk: it goes on every change the app makes.
    const desk = await app.waitUntil(
      `const o = document.querySelector('[data-testid="desk-staff"] option[value]:not([value=""])');
       return o && { id: o.value, name: o.textContent.replace(/ \\(.*\\)$/, '') };`,
      10000,
      'the staff list at the desk',
    );
    await app.select('[data-testid="desk-staff"]', desk.id);

    // A second device joins through the app's node and stays connected.
    const invite = await cliJson(a, ['invite', '--addr', `127.0.0.1:${portA}`]);
    await cli(b, ['join', invite.code, '--device', 'laptop', '--branch', 'CEN', '--peer', `127.0.0.1:${portA}`]);
    peer = serveB();
    await app.click('[data-testid="nav-sync"]');
    await app.waitFor('[data-testid="peer"][data-connected="true"]', 20000, 'the laptop shown connected');
    await app.waitUntil(
      `return document.querySelector('[data-testid="peer"]').textContent.includes('laptop')`,
      5000,
      'the peer shown by its device name',
    );
    await shot(app, 'sync');

    // Create an asset through the UI; it reaches the peer.
    await app.click('[data-testid="nav-inventory"]');
    await app.click('[data-testid="new-asset"]');
    await app.fill('input[name="tag"]', 'E2E-PC-1');
    await app.fill('input[name="name"]', 'Public PC by the window');
    await app.select('select[name="category"]', 'public-pc');
    await app.select('select[name="status"]', 'deployed');
    await app.select('select[name="branch"]', 'CEN');
    await app.click('input[name="bookable"]');
    await submit(app);
    await rowWith(app, 'E2E-PC-1');
    await eventually(() => cliJson(b, ['asset', 'show', 'E2E-PC-1']), 15000, 'the asset at the peer');

    // A change made on the peer appears in the open app, no reload.
    await app.fill('[data-testid="search"]', 'E2E');
    await rowWith(app, 'E2E-PC-1');
    await cli(b, ['asset', 'add', '--tag', 'E2E-REMOTE-1', '--name', 'Label printer from the laptop', '--category', 'printer', '--branch', 'CEN']);
    await rowWith(app, 'E2E-REMOTE-1', 15000);
    const lat = await app.waitUntil(
      'const l = window.__blLatencies || []; return l.length ? l : null',
      5000,
      'the app to record how long the remote change took to show',
    );
    t.diagnostic(`remote change on screen after ${lat[lat.length - 1]} ms`);
    await shot(app, 'inventory');

    // Report a problem from the asset, in two clicks.
    await clickRowWith(app, 'E2E-PC-1');
    await app.click('[data-testid="report-problem"]');
    await app.fill('input[name="summary"]', 'Keyboard missing keys');
    await app.select('select[name="category"]', 'hardware');
    await submit(app);
    await app.click('[data-testid="nav-tickets"]');
    await rowWith(app, 'Keyboard missing keys');
    await shot(app, 'tickets');

    // Book the new station through the grid.
    const day = nextWeekday();
    await app.click('[data-testid="nav-bookings"]');
    // As staff would: pick the day once the screen has shown today's grid.
    await app.waitFor('[data-testid="bookings"][data-ready="true"]', 10000, "the bookings screen with today's grid");
    await app.setValue('[data-testid="grid-date"]', day);
    await app.waitFor(`[role="grid"][data-date="${day}"]`, 10000, `the grid of ${day}`);
    await app.click('[data-testid="slot"][data-station="E2E-PC-1"][data-time="14:00"]');
    await app.fill('input[name="patron"]', 'G-100');
    await app.setValue('input[name="end"]', `${day}T15:00`);
    await submit(app);
    await app.waitFor('[data-testid="booking"][data-station="E2E-PC-1"]', 10000, 'the booking on the grid');
    await shot(app, 'bookings');

    // The laptop goes offline; both sides book the same station for overlapping times.
    await stop(peer);
    await app.click('[data-testid="slot"][data-station="E2E-PC-1"][data-time="16:00"]');
    await app.fill('input[name="patron"]', 'G-200');
    await app.setValue('input[name="end"]', `${day}T17:00`);
    await submit(app);
    await app.waitUntil(
      `return document.querySelectorAll('[data-testid="booking"][data-station="E2E-PC-1"]').length >= 2`,
      10000,
      'the second booking',
    );
    await cli(b, ['booking', 'add', '--station', 'E2E-PC-1', '--patron', 'G-300', '--start', `${day}T16:30`, '--end', `${day}T17:30`]);

    // Reconnect: the double booking is listed in the app, and settled there.
    peer = serveB();
    await app.click('[data-testid="nav-conflicts"]');
    await app.waitFor('[data-testid="conflict"]', 30000, 'the double booking as a conflict');
    await shot(app, 'conflicts');
    assert.ok(
      (await app.text('[data-testid="conflict"]')).includes(desk.name),
      `the conflict names ${desk.name}, who made the app's booking`,
    );
    await app.click('[data-testid="conflict"] [data-testid="keep"]');
    await app.waitFor('[data-testid="no-conflicts"]', 15000, 'no conflicts left');
    await eventually(
      async () => (await cliJson(b, ['conflicts'])).length === 0,
      20000,
      'the settlement to reach the laptop',
    );
    const hashes = await eventually(async () => {
      const [ha, hb] = [(await cli(a, ['state-hash'])).trim(), (await cli(b, ['state-hash'])).trim()];
      return ha === hb && ha;
    }, 20000, 'both replicas at the same state-hash');
    assert.ok(hashes);

    for (const screen of ['schedules', 'pages', 'usage', 'transfers', 'settings']) {
      await app.click(`[data-testid="nav-${screen}"]`);
      await new Promise((r) => setTimeout(r, 300));
      await shot(app, screen);
    }
  } catch (e) {
    // What the window showed when it went wrong, for whoever reads the CI log.
    await shot(app, 'failure').catch(() => {});
    t.diagnostic(`app log:\n${app.process.output.slice(-3000)}`);
    throw e;
  } finally {
    await closeApp(app);
    if (peer) await stop(peer);
    await stop(x);
  }
});

function CLI_PATH() {
  return join(process.env.BRANCHLINE_BIN_DIR || join(ROOT, 'target', 'debug'), 'branchline');
}
