// Processes for the end-to-end tests: a virtual display, one WebKitWebDriver per app
// instance, the `branchline` CLI and its `serve` daemon. Everything listens on
// 127.0.0.1 only, mDNS is off, and every process started here is stopped by its PID.

import { spawn, execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Driver, sleep } from './webdriver.mjs';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const BIN = process.env.BRANCHLINE_BIN_DIR || join(ROOT, 'target', 'debug');
export const APP = join(BIN, 'branchline-app');
export const CLI = join(BIN, 'branchline');

const started = [];

/** Start a process and remember its PID so `stopAll` can end it. */
export function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  child.exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  started.push(child);
  return child;
}

export async function stop(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, signal);
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }, 5000);
  await child.exited;
  clearTimeout(t);
}

export async function stopAll() {
  for (const c of started.reverse()) await stop(c).catch(() => {});
}

export function tempDir(name) {
  return mkdtempSync(join(tmpdir(), `branchline-e2e-${name}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** A UDP port free on 127.0.0.1 now (QUIC listens on UDP). */
export function freeUdpPort() {
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    s.on('error', rej);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

export function freeTcpPort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/** Run the CLI to completion; resolves with stdout, rejects with its stderr. */
export function cli(data, args, env = {}) {
  return new Promise((res, rej) => {
    execFile(CLI, ['--data', data, ...args], { env: { ...process.env, ...env }, timeout: 120000 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`branchline ${args.join(' ')}: ${stderr || err.message}`));
      else res(stdout);
    });
  });
}

export async function cliJson(data, args, env) {
  return JSON.parse(await cli(data, [...args, '--json'], env));
}

/** Poll `fn` until it returns something truthy. */
export async function eventually(fn, timeout = 15000, what = 'condition') {
  const until = Date.now() + timeout;
  let last;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** An X server of our own, so the window never reaches a real display. */
export async function startXvfb() {
  for (let n = 90 + Math.floor(Math.random() * 200); ; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const x = start('Xvfb', [`:${n}`, '-screen', '0', '1366x768x24', '-nolisten', 'tcp']);
    await eventually(() => existsSync(`/tmp/.X11-unix/X${n}`), 10000, `Xvfb :${n}`);
    x.display = `:${n}`;
    return x;
  }
}

/**
 * Launch the app on `data` under WebKitWebDriver and return a driver for its window.
 * The node inside listens on 127.0.0.1:`port` with mDNS off.
 */
export async function launchApp({ display, data, port, env = {} }) {
  const wdPort = await freeTcpPort();
  const wd = start('WebKitWebDriver', [`--port=${wdPort}`, '--host=local'], {
    env: {
      ...process.env,
      DISPLAY: display,
      TAURI_WEBVIEW_AUTOMATION: 'true',
      BRANCHLINE_DATA: data,
      BRANCHLINE_LISTEN: `127.0.0.1:${port}`,
      BRANCHLINE_MDNS: 'off',
      // No accessibility bus or other session services in CI: keep GTK quiet.
      NO_AT_BRIDGE: '1',
      ...env,
    },
  });
  await eventually(
    () => fetch(`http://127.0.0.1:${wdPort}/status`).then((r) => r.ok),
    10000,
    'WebKitWebDriver',
  );
  const t0 = performance.now();
  const driver = await Driver.start(wdPort, APP);
  driver.process = wd;
  driver.launchedAt = t0;
  return driver;
}

export async function closeApp(driver) {
  await driver.quit();
  await stop(driver.process);
}
