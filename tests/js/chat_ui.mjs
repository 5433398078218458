// chat_ui.mjs — ctgi's built-in chat page in Debian's headless chromium,
// driven by playwright-core (run by tests/server/chat_ui_test.sh).
//
//   node chat_ui.mjs --url URL --no-ui-url URL2 [--first N] [--artifacts DIR] [--chromium PATH]
//
// URL serves the page on a model slow enough that a long answer is still
// streaming when Stop is pressed, with --max-concurrent-requests 1; URL2
// runs with --no-ui.  One TAP line per step, numbered from N.  Every wait
// is for a condition with a timeout, never a fixed sleep.  The screenshots
// go to DIR/chat_ui.png and DIR/chat_ui_phone.png (their paths are printed).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const opt = { first: '1', artifacts: 'test-artifacts', chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '').replace(/-(.)/g, (m, c) => c.toUpperCase())] = process.argv[i + 1];
if (!opt.url || !opt.noUiUrl) {
  console.log('not ok ' + opt.first + ' - usage: chat_ui.mjs --url URL --no-ui-url URL2 [--first N] [--artifacts DIR]');
  process.exit(1);
}

// ---- TAP --------------------------------------------------------------------------------

let n = Number(opt.first) - 1;
let failures = 0;
async function step(name, fn) {
  n++;
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok ${n} - ${name}`);
    for (const l of String((e && e.stack) || e).split('\n').slice(0, 10)) console.log('# ' + l);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---- the server, seen from node ------------------------------------------------------------

// ctgi_request_cancelled{phase="..."}: requests cancelled because their client went away.
async function cancelled(phase) {
  const text = await (await fetch(opt.url + '/metrics')).text();
  const name = `ctgi_request_cancelled{phase="${phase}"} `;
  const line = text.split('\n').find(l => l.startsWith(name));
  assert(line, `/metrics has no ${name.trim()}`);
  return Number(line.slice(name.length));
}

async function until(cond, timeoutMs, what) {
  const t0 = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

// A long streamed request from node that holds the server's only permit
// until abort() (used to get a real 429 in the page).
async function occupyServer() {
  const controller = new AbortController();
  const res = await fetch(opt.url + '/v1/chat/completions', {
    method: 'POST', signal: controller.signal, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Busy' }], max_tokens: 1500, stream: true }),
  });
  assert(res.ok, `the occupying request got HTTP ${res.status}`);
  const reader = res.body.getReader();
  await reader.read(); // the first event: generation is under way
  const drain = (async () => { try { for (;;) if ((await reader.read()).done) break; } catch (e) { /* aborted */ } })();
  return { abort: () => { controller.abort(); return drain; } };
}

// ---- the page -------------------------------------------------------------------------------

const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">' +
  '<iframe src="javascript:window.__pwned=3"></iframe> "quoted" & done';

async function setMaxTokens(page, value) {
  if (!(await page.evaluate(() => document.getElementById('settings').open))) await page.click('#settings summary');
  await page.fill('#max-tokens', String(value));
}

async function send(page, text, maxTokens) {
  await setMaxTokens(page, maxTokens);
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
}

const lastAssistant = page => page.locator('#messages .msg.assistant').last();
const texts = page => page.locator('#messages .msg .content').allTextContents();

async function waitIdle(page) {
  await page.waitForSelector('#stop', { state: 'hidden', timeout: 60000 });
}

// Steps 1-6: load, answer, stream + Stop + cancellation, reload, regenerate, screenshot.
async function conversationSteps(page, foreign) {
  await step('the page loads from the server alone and names the model', async () => {
    const res = await page.goto(opt.url + '/');
    assert(res.status() === 200 && /^text\/html/.test(res.headers()['content-type']), `GET / answered ${res.status()} ${res.headers()['content-type']}`);
    await page.waitForSelector('#server-status.ok');
    const status = await page.textContent('#server-status');
    assert(status.includes('slow.gguf'), `status shows "${status}"`);
    assert(foreign.length === 0, 'requests left the server: ' + foreign.join(', '));
    assert(await page.evaluate(() => typeof window.ctgi.renderMarkdown === 'function'), 'no window.ctgi.renderMarkdown');
  });

  await step('a message gets an answer with time to first token and tokens/s', async () => {
    await send(page, 'Hello', 40);
    await page.waitForSelector('#messages .msg.user >> text=Hello');
    await waitIdle(page);
    const stats = await lastAssistant(page).locator('.stats').textContent();
    assert(/^TTFT \d+ ms · \d+(\.\d)? tok\/s · 40 tokens · length$/.test(stats), `stats "${stats}"`);
    const text = await lastAssistant(page).locator('.content').textContent();
    assert(text.trim().length > 0, 'the answer is empty');
  });

  let stoppedText = '';
  await step('a long answer streams into the page, Stop aborts it and the server counts a cancellation', async () => {
    const before = await cancelled('running');
    await send(page, 'Tell me a long story', 1500);
    // text arrives while the request is still running (the message has the streaming mark)
    await page.waitForFunction(() => {
      const m = document.querySelector('#messages .msg.assistant.streaming .content');
      return m && m.textContent.length >= 20;
    }, null, { timeout: 20000 });
    assert(await page.isVisible('#stop'), 'no Stop button while streaming');
    await page.click('#stop');
    await waitIdle(page);
    const stats = await lastAssistant(page).locator('.stats').textContent();
    assert(/ · stopped$/.test(stats), `stats after Stop "${stats}"`);
    stoppedText = await lastAssistant(page).locator('.content').textContent();
    assert(stoppedText.length >= 20, 'the partial answer was not kept');
    const after = await until(async () => { const v = await cancelled('running'); return v > before && v; }, 10000,
      'ctgi_request_cancelled{phase="running"} to grow');
    assert(after === before + 1, `cancelled went from ${before} to ${after}`);
  });

  await step('after a reload the conversation is kept (the stopped answer too)', async () => {
    const was = await texts(page);
    await page.reload();
    await page.waitForSelector('#server-status.ok');
    const now = await texts(page);
    assert(JSON.stringify(now) === JSON.stringify(was), `before: ${JSON.stringify(was).slice(0, 300)}\nafter: ${JSON.stringify(now).slice(0, 300)}`);
    assert(now.length === 4 && now[3] === stoppedText, 'the stopped answer is not the last message');
    const stats = await lastAssistant(page).locator('.stats').textContent();
    assert(/ · stopped$/.test(stats), `stats after reload "${stats}"`);
    const titles = await page.locator('#conversations li .open').allTextContents();
    assert(titles.length === 1 && titles[0] === 'Hello', `sidebar: ${JSON.stringify(titles)}`);
  });

  await step('Regenerate replaces the last answer', async () => {
    await setMaxTokens(page, 20);
    await lastAssistant(page).locator('.regenerate').click();
    await waitIdle(page);
    const stats = await lastAssistant(page).locator('.stats').textContent();
    assert(/ · 20 tokens · length$/.test(stats), `stats "${stats}"`);
    const all = await texts(page);
    assert(all.length === 4, `${all.length} messages after regenerate`);
    assert(await page.locator('#messages .msg.assistant').count() === 2, 'not two answers');
  });

  await step('desktop screenshot', async () => {
    const file = path.resolve(opt.artifacts, 'chat_ui.png');
    await page.screenshot({ path: file, fullPage: true });
    assert(fs.statSync(file).size > 1000, 'screenshot is empty');
    console.log('# screenshot: ' + file);
  });
}

// Errors as the user sees them: a real 429, a rejected request, a network failure.
async function errorSteps(page) {
  await step('a 429 from a busy server is shown with its message', async () => {
    await page.click('#new-chat');
    await page.waitForSelector('#messages .msg', { state: 'detached' });
    const before = await cancelled('running') + await cancelled('queued');
    const busy = await occupyServer();
    try {
      await send(page, 'Are you busy?', 10);
      const err = lastAssistant(page).locator('.error');
      await err.waitFor({ state: 'visible' });
      const text = await err.textContent();
      assert(/busy \(HTTP 429\): Model is overloaded\. Try again in 1 s\./.test(text), `error shown: "${text}"`);
    } finally {
      await busy.abort();
    }
    await until(async () => (await cancelled('running')) + (await cancelled('queued')) > before, 10000,
      'the occupying request to be cancelled');
  });

  await step('a request the server rejects shows the server\'s message', async () => {
    await send(page, 'Too long', 100000);
    const err = lastAssistant(page).locator('.error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    assert(/^HTTP 400: This model's maximum context length is 2048 tokens/.test(text), `error shown: "${text}"`);
  });

  await step('a network failure is shown plainly', async () => {
    await page.route('**/v1/chat/completions', r => r.abort('connectionrefused'));
    try {
      await send(page, 'Anyone there?', 10);
      const err = lastAssistant(page).locator('.error');
      await err.waitFor({ state: 'visible' });
      const text = await err.textContent();
      assert(/^Network error: could not reach the server/.test(text), `error shown: "${text}"`);
    } finally {
      await page.unroute('**/v1/chat/completions');
    }
  });
}

// Untrusted text: the SSE parser, the markdown renderer, hostile stored conversations.
async function safetySteps(page) {
  await step('the SSE parser takes split events, CRLF, comments and data: without a space', async () => {
    const got = await page.evaluate(() => {
      const out = [];
      const p = new window.ctgi.SseParser(d => out.push(d));
      for (const piece of ['data:{"a":1}\r', '\n\r\n: keep-alive\n\nda', 'ta: {"b":', '2}\n\nevent: x\ndata: [DONE]']) p.feed(piece);
      p.end();
      return out;
    });
    assert(JSON.stringify(got) === JSON.stringify(['{"a":1}', '{"b":2}', '[DONE]']), JSON.stringify(got));
  });

  await step('markdown: model output is escaped, only safe markup and links come out', async () => {
    const r = await page.evaluate(hostile => {
      const md = hostile + '\n\n**bold** and *it* [ok](https://example.com/a?b=1&c=2) [bad](javascript:alert(1))' +
        ' `<b>code</b>`\n\n- one\n- two\n\n```js\n<script>x()</script>\n```';
      const div = document.createElement('div');
      div.innerHTML = window.ctgi.renderMarkdown(md);
      document.body.append(div);
      const out = {
        text: div.textContent,
        injected: div.querySelectorAll('script, img, iframe, [onerror], [src]').length,
        strong: div.querySelector('strong') && div.querySelector('strong').textContent,
        em: div.querySelector('em') && div.querySelector('em').textContent,
        links: [...div.querySelectorAll('a')].map(a => a.getAttribute('href')),
        code: [...div.querySelectorAll('code')].map(c => c.textContent),
        items: div.querySelectorAll('ul > li').length,
        pwned: window.__pwned,
      };
      div.remove();
      return out;
    }, HOSTILE);
    assert(r.injected === 0, `${r.injected} injected elements`);
    assert(r.text.includes(HOSTILE), `the hostile text is not shown literally: ${r.text.slice(0, 200)}`);
    assert(r.pwned === undefined, 'script ran');
    assert(r.strong === 'bold' && r.em === 'it', `emphasis: ${r.strong} / ${r.em}`);
    assert(JSON.stringify(r.links) === JSON.stringify(['https://example.com/a?b=1&c=2']), `links: ${JSON.stringify(r.links)}`);
    assert(r.text.includes('[bad](javascript:alert(1))'), 'the unsafe link is not left as text');
    assert(JSON.stringify(r.code) === JSON.stringify(['<b>code</b>', '<script>x()</script>']), `code: ${JSON.stringify(r.code)}`);
    assert(r.items === 2, `${r.items} list items`);
  });

  await step('a stored conversation with hostile content renders as text after a reload', async () => {
    await page.evaluate(hostile => {
      const convs = JSON.parse(localStorage.getItem('ctgi.conversations'));
      convs.push({ id: 'hostile', title: hostile, system: '', updated: Date.now(), messages: [
        { role: 'user', content: hostile }, { role: 'assistant', content: '## ' + hostile + '\n\n' + hostile, stats: null }] });
      localStorage.setItem('ctgi.conversations', JSON.stringify(convs));
      localStorage.setItem('ctgi.current', JSON.stringify('hostile'));
    }, HOSTILE);
    await page.reload();
    await page.waitForSelector('#messages .msg.assistant h2');
    const r = await page.evaluate(() => ({
      contents: [...document.querySelectorAll('#messages .msg .content')].map(e => e.textContent),
      injected: document.querySelectorAll('script:not([src]), img, iframe, [onerror]').length,
      title: document.getElementById('title').textContent,
      pwned: window.__pwned,
    }));
    assert(r.injected === 0 && r.pwned === undefined, `injected ${r.injected}, pwned ${r.pwned}`);
    assert(r.contents[0] === HOSTILE, `user message: ${r.contents[0]}`);
    assert(r.contents[1] === HOSTILE + '\n' + HOSTILE, `answer: ${JSON.stringify(r.contents[1])}`);
    assert(r.title === HOSTILE, `title: ${r.title}`);
  });
}

// A phone-sized screen, and a server started with --no-ui.
async function layoutSteps(page, context) {
  await step('on a phone-sized screen the list is a drawer and nothing overflows', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // the drawer slides shut (a short CSS transition)
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 1);
    await page.click('#toggle-sidebar');
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().x >= 0);
    await page.click('#conversations li .open >> text=Hello'); // opens it and closes the drawer
    await page.waitForSelector('#messages .msg.user >> text=Hello');
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 1);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(w <= 390, `page is ${w}px wide`);
    const file = path.resolve(opt.artifacts, 'chat_ui_phone.png');
    await page.screenshot({ path: file });
    console.log('# screenshot: ' + file);
  });

  await step('--no-ui: a browser gets the health answer, not the page', async () => {
    const p2 = await context.newPage();
    const res = await p2.goto(opt.noUiUrl + '/');
    const ctype = res.headers()['content-type'] || '';
    assert(res.status() === 200 && !/html/.test(ctype), `GET / answered ${res.status()} ${ctype}`);
    assert(await p2.locator('#prompt').count() === 0, 'the page is there');
    assert((await p2.evaluate(() => document.body.textContent)).trim() === '', 'the body is not empty');
    await p2.close();
  });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: opt.chromium, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'], // a container's small /dev/shm must not crash the renderer
  });
  const problems = []; // CSP violations and uncaught script errors
  const foreign = [];  // requests to anything but the server
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    page.on('pageerror', e => problems.push('page error: ' + e.message));
    page.on('console', m => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push('console: ' + m.text()); });
    page.on('request', r => { if (!r.url().startsWith(opt.url) && !r.url().startsWith('data:')) foreign.push(r.url()); });
    fs.mkdirSync(opt.artifacts, { recursive: true });

    await conversationSteps(page, foreign);
    await errorSteps(page);
    await safetySteps(page);
    await layoutSteps(page, context);
    await step('no CSP violation, script error or outside request during the run', async () => {
      assert(problems.length === 0, problems.join('\n'));
      assert(foreign.length === 0, foreign.join('\n'));
    });
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(failures ? 1 : 0),
  e => { console.log(`not ok ${n + 1} - chat_ui.mjs: ${e.message}`); process.exit(1); });
