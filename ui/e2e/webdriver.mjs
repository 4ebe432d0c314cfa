// A small W3C WebDriver client over fetch, enough to drive the Branchline app through
// WebKitWebDriver (Debian's webkit2gtk-driver). Only loopback is ever contacted.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class Driver {
  constructor(port, session) {
    this.base = `http://127.0.0.1:${port}/session/${session}`;
    this.port = port;
    this.session = session;
  }

  static async start(port, binary, args = []) {
    const body = {
      capabilities: {
        alwaysMatch: {
          'webkitgtk:browserOptions': { binary, args },
        },
      },
    };
    const res = await call('POST', `http://127.0.0.1:${port}/session`, body);
    return new Driver(port, res.sessionId);
  }

  async cmd(method, path, body) {
    return call(method, this.base + path, body);
  }

  async quit() {
    try {
      await call('DELETE', this.base);
    } catch {
      // The app may already be gone; the harness stops the processes by PID anyway.
    }
  }

  async exec(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  async execAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  async find(css) {
    const r = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return new El(this, r[ELEMENT]);
  }

  async findAll(css) {
    const r = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return r.map((e) => new El(this, e[ELEMENT]));
  }

  /** Wait until `css` matches, `timeout` ms at most; returns the first element. */
  async waitFor(css, timeout = 10000, what = css) {
    const until = Date.now() + timeout;
    let last;
    while (Date.now() < until) {
      try {
        const all = await this.findAll(css);
        if (all.length) return all[0];
      } catch (e) {
        last = e;
      }
      await sleep(50);
    }
    throw new Error(
      `timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}; ${await this.describe()}`,
    );
  }

  /**
   * What the screen showed, for a timeout's message: CI keeps only the log, so a
   * failure has to say which screen, banner or error was up instead of the awaited one.
   */
  async describe() {
    try {
      const s = await this.exec(
        `const main = document.querySelector('main');
         const alerts = [...document.querySelectorAll('[role="alert"], [data-testid="form-error"]')]
           .map((e) => e.textContent.trim()).filter(Boolean);
         const inputs = [...document.querySelectorAll('main input[data-testid]')]
           .map((e) => e.dataset.testid + '=' + e.value);
         return JSON.stringify({
           screen: (main ? main.innerText : document.body.innerText).replace(/\\s+/g, ' ').slice(0, 400),
           alerts, inputs,
           latencies: (window.__blLatencies || []).length,
           owed: window.__blOwed ?? 0,
           remoteSeen: window.__blRemoteSeen ?? 0,
         });`,
      );
      return `the screen then: ${s}`;
    } catch (e) {
      return `the screen could not be read: ${e.message}`;
    }
  }

  /** Wait until `fn` (a script body returning a value) returns something truthy. */
  async waitUntil(script, timeout = 10000, what = script) {
    const until = Date.now() + timeout;
    while (Date.now() < until) {
      const v = await this.exec(script);
      if (v) return v;
      await sleep(50);
    }
    throw new Error(`timed out after ${timeout} ms waiting for ${what}; ${await this.describe()}`);
  }

  /**
   * Click the element `css` matches. A screen that re-renders on a live event may
   * replace or briefly cover the element between finding and clicking it; such
   * clicks are retried with a fresh lookup for a few seconds.
   */
  async click(css, timeout = 5000) {
    const until = Date.now() + timeout;
    for (;;) {
      const el = await this.waitFor(css);
      try {
        await el.click();
        return el;
      } catch (e) {
        if (Date.now() > until || !/stale|not interactable|intercepted/.test(e.message)) throw e;
        await sleep(100);
      }
    }
  }

  /** Clear an input and type into it. */
  async fill(css, text) {
    const el = await this.waitFor(css);
    await el.clear();
    await el.type(String(text));
    return el;
  }

  /**
   * Set an input's value the way a person's typing would reach React (the native
   * setter, then input and change events). For date and time inputs, whose typed
   * form depends on the WebKit version's locale handling.
   */
  async setValue(css, value) {
    await this.waitFor(css);
    await this.exec(
      `const el = document.querySelector(arguments[0]);
       const proto = el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
       Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, arguments[1]);
       el.dispatchEvent(new Event('input', { bubbles: true }));
       el.dispatchEvent(new Event('change', { bubbles: true }));`,
      [css, String(value)],
    );
  }

  /** Choose an option of a <select> by its value. */
  async select(css, value) {
    await this.waitFor(css);
    await this.click(`${css} option[value="${value}"]`);
  }

  async text(css) {
    const el = await this.waitFor(css);
    return el.text();
  }

  /** A PNG of the window, after two animation frames so the last render is painted. */
  async screenshot() {
    await this.execAsync(
      'const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));',
    );
    const b64 = await this.cmd('GET', '/screenshot');
    return Buffer.from(b64, 'base64');
  }
}

export class El {
  constructor(driver, id) {
    this.d = driver;
    this.id = id;
  }
  click() {
    return this.d.cmd('POST', `/element/${this.id}/click`, {});
  }
  clear() {
    return this.d.cmd('POST', `/element/${this.id}/clear`, {});
  }
  type(text) {
    return this.d.cmd('POST', `/element/${this.id}/value`, { text });
  }
  text() {
    return this.d.cmd('GET', `/element/${this.id}/text`);
  }
  attr(name) {
    return this.d.cmd('GET', `/element/${this.id}/attribute/${name}`);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function call(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || (json.value && json.value.error)) {
    const v = json.value || {};
    throw new Error(`${method} ${url.replace(/.*\/session/, '/session')}: ${v.error || res.status} ${v.message || ''}`);
  }
  return json.value;
}
