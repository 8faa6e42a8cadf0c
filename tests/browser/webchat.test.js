#!/usr/bin/env node
// webchat.test.js — the web chat of `smrelay demo` in a real browser:
// Debian's Chromium, headless, driven by Playwright (playwright-core, no
// browser download, no test runner). It starts `smrelay demo` on a free
// port with a fresh state dir, opens the page, types `@claude start demo`,
// watches the live screen post change, clicks Approve on the card and sees
// the program in the session receive the approval (its "downloading" line
// appears in the screen post). It also checks that text from the chat and
// the program is never rendered as HTML, that the page keeps working by
// polling when its WebSocket is refused, and that stopping the demo stops
// its sessions. Exit status 0 when everything passed.
//
//   node tests/browser/webchat.test.js        (after `npm ci --prefix tests/browser`)
//   SMRELAY_BIN=path/to/smrelay CHROMIUM=/usr/bin/chromium SMRELAY_SCREENSHOT=/tmp/x.png
'use strict';

const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.SMRELAY_BIN || path.join(ROOT, 'build', 'relay', 'smrelay');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOT = process.env.SMRELAY_SCREENSHOT || '/tmp/smrelay-webchat.png';
const STEP_MS = 45000; // a guard against hangs per step, not a performance bound

function log(msg) {
  process.stdout.write('webchat.test: ' + msg + '\n');
}

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

// `smrelay demo` with only our SM_* settings, on a free port.
function startDemo(tmp) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SM_')) env[k] = v;
  Object.assign(env, {
    SM_STATE_DIR: path.join(tmp, 'state'),
    SM_LISTEN_ADDR: '127.0.0.1:0',
    SM_LOG_LEVEL: 'info',
  });
  const child = spawn(BIN, ['demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const demo = { child, out: '', exited: null };
  child.stdout.on('data', (d) => { demo.out += d; });
  child.stderr.on('data', (d) => { demo.out += d; });
  demo.exit = new Promise((resolve) => child.on('exit', (code, sig) => {
    demo.exited = { code, sig };
    resolve(demo.exited);
  }));
  demo.url = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('smrelay demo printed no address:\n' + demo.out)), 20000);
    child.stdout.on('data', () => {
      const m = /smrelay demo: (http:\/\/\S+)/.exec(demo.out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    demo.exit.then((e) => { clearTimeout(t); reject(new Error('smrelay demo exited (' + JSON.stringify(e) + '):\n' + demo.out)); });
  });
  return demo;
}

async function main() {
  check(fs.existsSync(BIN), BIN + ' is missing (build first)');
  check(fs.existsSync(CHROMIUM), CHROMIUM + ' is missing (apt-get install chromium)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smrelay-browser-'));
  const demo = startDemo(tmp);
  let browser = null;
  const problems = [];
  try {
    const url = await demo.url;
    log('smrelay demo at ' + url);
    browser = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
    browser.setDefaultTimeout(STEP_MS);
    const page = browser.pages()[0] || await browser.newPage();
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    page.on('dialog', (d) => { problems.push('a dialog opened: ' + d.message()); d.dismiss(); });

    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]');
    await page.waitForSelector('body[data-conn="live"]'); // the WebSocket is up
    check((await page.textContent('#me')).includes('@you'), 'the page says who you are');

    // the channel box starts a session; the bot answers in the thread
    await page.fill('#channel-input', '@claude start demo');
    await page.press('#channel-input', 'Enter');
    const thread = page.locator('article.thread', { hasText: '@claude start demo' }).first();
    await thread.locator('.post', { hasText: 'is running' }).waitFor();
    log('session started');

    // the live screen post: a code block that changes as the program works
    const live = thread.locator('.post.live pre.code');
    await live.waitFor();
    const first = await live.textContent();
    await page.waitForFunction((before) => {
      const el = document.querySelector('.post.live pre.code');
      return el && el.textContent !== before;
    }, first, { timeout: STEP_MS });
    log('the live post changed: ' + JSON.stringify((await live.textContent()).slice(-80)));
    check((await thread.locator('.post.live .badge.live-badge').isVisible()), 'the live post is marked live');

    // the card: Approve and Deny buttons; the operator view lists it
    const card = thread.locator('.post.card', { hasText: 'Network access requested: pypi.org' });
    await card.locator('button', { hasText: 'Approve' }).waitFor();
    await page.locator('#pending li', { hasText: 'pypi.org' }).waitFor();
    await page.locator('#sessions tbody tr', { hasText: 'demo' }).waitFor();
    await card.locator('button', { hasText: 'Approve' }).click();
    await card.locator('.att-footer', { hasText: 'Approved by @you' }).waitFor();
    check(await card.locator('button').count() === 0, 'the buttons are gone after the decision');
    log('approved');

    // the program heard `[NETWORK_APPROVED: pypi.org]` and continues
    await thread.locator('.post.screen', { hasText: 'downloading' }).first().waitFor();
    await thread.locator('.post.screen', { hasText: '5 passed. done.' }).first().waitFor();
    await page.locator('#audit li', { hasText: 'pypi.org' }).first().waitFor();
    log('the session received the approval');
    await page.screenshot({ path: SHOT, fullPage: true });
    log('screenshot: ' + SHOT);

    // text from people and programs is shown as text, never as HTML
    const evil = '<img id="xss1" src="x" onerror="window.__xss=1"><b id="xss2">bold?</b>';
    await page.fill('#channel-input', evil);
    await page.press('#channel-input', 'Enter');
    await page.locator('.post', { hasText: '<b id="xss2">bold?</b>' }).first().waitFor();
    const reply = thread.locator('form.reply-composer input');
    await reply.fill('say ' + evil);
    await reply.press('Enter');
    await thread.locator('.post.screen', { hasText: 'you said: say <img' }).first().waitFor();
    check(await page.locator('#xss1, #xss2').count() === 0, 'chat text became HTML elements');
    check(await page.evaluate(() => window.__xss === undefined), 'a handler from chat text ran');

    // a page whose WebSocket is refused keeps up by polling
    const second = await browser.newPage();
    second.on('pageerror', (e) => problems.push('second page error: ' + e.message));
    await second.routeWebSocket(/\/ws$/, (ws) => ws.close());
    await second.goto(url);
    await second.waitForSelector('body[data-conn="polling"]');
    await reply.fill('polled line');
    await reply.press('Enter');
    await second.locator('.post.screen', { hasText: 'you said: polled line' }).first().waitFor();
    await second.close();
    log('polling works without the WebSocket');

    // stop from the thread
    await reply.fill('@claude stop');
    await reply.press('Enter');
    await thread.locator('.post', { hasText: 'ended: stopped' }).waitFor();
    await page.locator('#no-sessions:not([hidden])').waitFor();
    log('session stopped from the chat');

    // a second session, left running: stopping the demo stops it
    await page.fill('#channel-input', '@claude start demo');
    await page.press('#channel-input', 'Enter');
    await page.locator('article.thread').last().locator('.post', { hasText: 'is running' }).waitFor();
    const realProblems = problems.filter((p) => !/WebSocket/.test(p)); // the refused socket of the second page
    check(realProblems.length === 0, 'the page reported problems:\n' + realProblems.join('\n'));
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (!demo.exited) demo.child.kill('SIGINT');
    const t = setTimeout(() => demo.child.kill('SIGKILL'), 20000);
    const e = await demo.exit;
    clearTimeout(t);
    log('smrelay demo exited: ' + JSON.stringify(e));
    if (!/demo: stopped \(1 session\(s\) stopped\)/.test(demo.out) || e.code !== 0) {
      process.stdout.write(demo.out.split('\n').slice(-40).join('\n') + '\n');
      if (!process.exitCode) {
        process.exitCode = 1;
        log('FAIL: the demo did not stop its session cleanly on SIGINT');
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(() => {
  if (!process.exitCode) log('PASS');
}, (e) => {
  log('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
});
