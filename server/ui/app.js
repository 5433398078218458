/*
 * app.js — behaviour of ctgi's chat page (index.html; docs/ui.md).
 *
 * Sections, one concern each:
 *   1. storage     conversations and settings in localStorage
 *   2. markdown    a small renderer that escapes everything first
 *   3. SSE         a parser for the bytes of a text/event-stream body
 *   4. API         one streamed /v1/chat/completions request, errors read
 *                  from the server's {"error":{"message"}} envelope
 *   5. view        the DOM: conversation list, messages, status
 *   6. actions     send, stop, regenerate, new / switch / delete chats
 *
 * Model output is untrusted: it reaches the DOM only through
 * renderMarkdown (which escapes before it adds any markup) or textContent.
 * The server's Content-Security-Policy also forbids inline script, so even
 * markup that slipped through could not run.
 *
 * window.ctgi exposes renderMarkdown and SseParser (read-only) so that the
 * browser test can check them on hostile input.
 */
(function () {
  'use strict';

  /* ---- 1. storage ------------------------------------------------------------------ */

  // Everything lives in this browser's localStorage under these keys; a
  // conversation is {id, title, system, messages: [{role, content, stats?, error?}], updated}.
  const KEY_CONVS = 'ctgi.conversations';
  const KEY_CURRENT = 'ctgi.current';
  const KEY_SETTINGS = 'ctgi.settings';
  const DEFAULT_SETTINGS = { temperature: 0.7, top_p: 0.95, max_tokens: '', api_key: '', system: '' };

  function loadJson(key, fallback) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback; // missing, corrupt, or storage disabled
    }
  }

  // false when the browser refuses (quota, private mode): the page keeps
  // working, and says that this conversation will not survive a reload.
  function saveJson(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (e) {
      return false;
    }
  }

  function validConversation(c) {
    return c && typeof c.id === 'string' && Array.isArray(c.messages) &&
      c.messages.every(m => m && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string');
  }

  function loadConversations() {
    const list = loadJson(KEY_CONVS, []);
    return Array.isArray(list) ? list.filter(validConversation) : [];
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  /* ---- 2. markdown ----------------------------------------------------------------- */

  // The subset: ``` fenced code blocks, `inline code`, **bold**, *italics*
  // (and the _ forms), # headings, - / 1. lists, [links](https://...) whose
  // scheme is http, https or mailto; everything else is text.  Every piece
  // of the input is escaped before markup is put around it, and the only
  // markup added is the fixed tags below: no attribute ever holds unescaped
  // input, and no input becomes a tag.

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(s) {
    return s.replace(/[&<>"']/g, c => ESC[c]);
  }

  // Applied to escaped text: the scheme test sees the text as the browser will.
  const SAFE_URL = /^(https?:\/\/|mailto:)/i;

  function emphasis(s) {
    return s
      .replace(/\*\*(?=\S)([^*]*?\S)\*\*/g, '<strong>$1</strong>')
      .replace(/(^|[^\w])__(?=\S)([^_]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
      .replace(/(^|[^*\w])\*(?=[^\s*])([^*\n]*?[^\s*])?\*(?![*\w])/g, (m, pre, body) => body === undefined ? m : `${pre}<em>${body}</em>`)
      .replace(/(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])?_(?!\w)/g, (m, pre, body) => body === undefined ? m : `${pre}<em>${body}</em>`);
  }

  // One line of text.  Code spans and links are set aside as placeholders
  // (\u0001n\u0002; those characters are removed from the input) so that
  // emphasis never reaches into them.
  function inline(raw) {
    const held = [];
    const hold = html => `\u0001${held.push(html) - 1}\u0002`;
    let s = raw.replace(/[\u0001\u0002]/g, '');
    s = s.replace(/`([^`\n]+)`/g, (m, code) => hold(`<code>${esc(code)}</code>`));
    s = esc(s);
    s = s.replace(/\[([^\]\n]+)\]\(([^()\s\u0001\u0002]+)\)/g, (m, text, url) =>
      SAFE_URL.test(url) ? hold(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(text)}</a>`) : m);
    s = emphasis(s);
    for (let i = 0; i < 3 && s.includes('\u0001'); i++) s = s.replace(/\u0001(\d+)\u0002/g, (m, n) => held[n]);
    return s;
  }

  const FENCE = /^\s{0,3}```\s*([\w+#.-]*)\s*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
  const NUMBERED = /^\s{0,3}\d{1,9}[.)]\s+(.*)$/;

  function renderMarkdown(src) {
    const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    const out = [];
    let para = [];
    let list = null; // {tag: 'ul'|'ol', items: [html]}
    const flushPara = () => {
      if (para.length) out.push(`<p>${para.map(inline).join('<br>')}</p>`);
      para = [];
    };
    const flushList = () => {
      if (list) out.push(`<${list.tag}>${list.items.map(i => `<li>${i}</li>`).join('')}</${list.tag}>`);
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        // A fence still open at the end (mid-stream) shows as code so far.
        flushPara(); flushList();
        const code = [];
        for (i++; i < lines.length && !/^\s{0,3}```\s*$/.test(lines[i]); i++) code.push(lines[i]);
        const lang = m[1] ? ` class="language-${esc(m[1])}"` : '';
        out.push(`<pre><code${lang}>${esc(code.join('\n'))}</code></pre>`);
      } else if ((m = HEADING.exec(line))) {
        flushPara(); flushList();
        const level = m[1].length;
        out.push(`<h${level}>${inline(m[2])}</h${level}>`);
      } else if ((m = BULLET.exec(line)) || (m = NUMBERED.exec(line))) {
        flushPara();
        const tag = BULLET.test(line) ? 'ul' : 'ol';
        if (list && list.tag !== tag) flushList();
        if (!list) list = { tag, items: [] };
        list.items.push(inline(m[1]));
      } else if (/^\s*$/.test(line)) {
        flushPara(); flushList();
      } else if (list && /^\s+\S/.test(line)) {
        list.items[list.items.length - 1] += '<br>' + inline(line.trim()); // a continued list item
      } else {
        flushList();
        para.push(line);
      }
    }
    flushPara(); flushList();
    return out.join('\n');
  }

  /* ---- 3. SSE ----------------------------------------------------------------------- */

  // Feeds of decoded text in, one onData(payload) per event out.  Accepts
  // "data:" with or without a space, \n, \r\n or \r line ends (a \r at the
  // end of a piece waits: it may be half of \r\n), `:` comments (the
  // server's keep-alives) and fields other than data (ignored).
  function SseParser(onData) {
    let buf = '';
    let data = [];
    function line(l) {
      if (l === '') {
        if (data.length) onData(data.join('\n'));
        data = [];
        return;
      }
      if (l[0] === ':') return;
      const c = l.indexOf(':');
      const field = c < 0 ? l : l.slice(0, c);
      let value = c < 0 ? '' : l.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
    }
    this.feed = function (text) {
      buf += text;
      let i;
      while ((i = buf.search(/[\r\n]/)) >= 0) {
        if (buf[i] === '\r' && i === buf.length - 1) break;
        const next = buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1;
        line(buf.slice(0, i));
        buf = buf.slice(next);
      }
    };
    this.end = function () {
      if (buf.endsWith('\r')) buf = buf.slice(0, -1);
      if (buf) line(buf);
      buf = '';
      line(''); // a last event without its blank line still counts
    };
  }

  /* ---- 4. API ----------------------------------------------------------------------- */

  function apiUrl(path) {
    return new URL(path, document.baseURI).toString(); // relative: works behind a path prefix
  }

  function headers(settings) {
    const h = { 'Content-Type': 'application/json' };
    if (settings.api_key) h.Authorization = 'Bearer ' + settings.api_key;
    return h;
  }

  // The message of an error body: OpenAI's {"error":{"message"}}, TGI's
  // {"error":"..."}, or the text itself.
  function errorMessage(text) {
    try {
      const j = JSON.parse(text);
      if (j && j.error && typeof j.error.message === 'string') return j.error.message;
      if (j && typeof j.error === 'string') return j.error;
      if (j && typeof j.message === 'string') return j.message;
    } catch (e) { /* not JSON */ }
    return text.trim() || '(no message)';
  }

  async function httpError(res) {
    const msg = errorMessage(await res.text().catch(() => ''));
    let text = `HTTP ${res.status}: ${msg}`;
    if (res.status === 429) {
      const after = res.headers.get('Retry-After');
      text = `The server is busy (HTTP 429): ${msg}${/[.!?]$/.test(msg) ? '' : '.'}` + (after ? ` Try again in ${after} s.` : '');
    } else if (res.status === 401) {
      text += ' (set the API key in Settings)';
    }
    return new Error(text);
  }

  // One streamed chat completion.  hooks.onText(piece) per content delta;
  // resolves to {finish, tokens (from usage, else the count of content
  // chunks: the server sends one per token)}; throws Error with a readable
  // message, or the AbortError of signal.
  async function streamChat(body, settings, signal, hooks) {
    let res;
    try {
      res = await fetch(apiUrl('v1/chat/completions'), {
        method: 'POST', headers: headers(settings), body: JSON.stringify(body), signal,
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new Error(`Network error: could not reach the server (${e.message})`);
    }
    if (!res.ok) throw await httpError(res);
    const result = { finish: null, tokens: 0, usage: null };
    let failure = null;
    const parser = new SseParser(data => {
      if (data === '[DONE]' || failure) return;
      let ev;
      try { ev = JSON.parse(data); } catch (e) { failure = new Error('The server sent an event that is not JSON: ' + data.slice(0, 200)); return; }
      if (ev.error) { failure = new Error('The server stopped with an error: ' + errorMessage(data)); return; }
      if (ev.usage && typeof ev.usage.completion_tokens === 'number') result.usage = ev.usage;
      const choice = ev.choices && ev.choices[0];
      if (!choice) return;
      const piece = choice.delta && choice.delta.content;
      if (typeof piece === 'string' && piece !== '') {
        result.tokens++;
        hooks.onText(piece);
      }
      if (choice.finish_reason) result.finish = choice.finish_reason;
    });
    const reader = res.body.getReader();
    const dec = new TextDecoder(); // {stream: true} keeps a split UTF-8 character for the next piece
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(dec.decode(value, { stream: true }));
        if (failure) break;
      }
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new Error(`Network error: the stream broke off (${e.message})`);
    }
    if (failure) { reader.cancel().catch(() => {}); throw failure; }
    parser.feed(dec.decode());
    parser.end();
    if (failure) throw failure;
    if (result.usage) result.tokens = result.usage.completion_tokens;
    return result;
  }

  /* ---- 5. view ---------------------------------------------------------------------- */

  const $ = id => document.getElementById(id);
  const state = {
    convs: [],
    current: null,          // the conversation shown
    settings: { ...DEFAULT_SETTINGS },
    model: 'ctgi',          // the id /v1/models reports
    running: null,          // {conv, msg, controller} while a request streams
    nodes: new WeakMap(),   // message -> its DOM node
    empty: null,            // the "send a message to start" note
    saveTimer: 0,
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtStats(s) {
    if (!s) return '';
    const parts = [];
    if (s.ttft_ms != null) parts.push(`TTFT ${Math.round(s.ttft_ms)} ms`);
    if (s.tps != null) parts.push(`${s.tps.toFixed(1)} tok/s`);
    if (s.tokens != null) parts.push(`${s.tokens} tokens`);
    if (s.finish) parts.push(s.finish);
    return parts.join(' \u00b7 ');
  }

  // Fill a message's node from the message (called per render frame while streaming).
  function paintMessage(msg) {
    const node = state.nodes.get(msg);
    if (!node) return;
    const content = node.querySelector('.content');
    if (msg.role === 'user') content.textContent = msg.content;
    else content.innerHTML = renderMarkdown(msg.content); // escaped inside renderMarkdown
    node.classList.toggle('streaming', !!(state.running && state.running.msg === msg));
    node.querySelector('.stats').textContent = fmtStats(msg.stats);
    const err = node.querySelector('.error');
    err.hidden = !msg.error;
    err.textContent = msg.error || '';
    const regen = node.querySelector('.regenerate');
    if (regen) {
      const conv = state.current;
      regen.hidden = !!state.running || !conv || conv.messages[conv.messages.length - 1] !== msg;
    }
  }

  function messageNode(msg) {
    const node = el('article', 'msg ' + msg.role);
    node.append(el('div', 'role', msg.role === 'user' ? 'You' : 'Assistant'), el('div', 'content'));
    const err = el('div', 'error');
    err.setAttribute('role', 'alert');
    const meta = el('div', 'meta');
    meta.append(el('span', 'stats'));
    if (msg.role === 'assistant') {
      const regen = el('button', 'regenerate', 'Regenerate');
      regen.type = 'button';
      regen.addEventListener('click', regenerate);
      meta.append(regen);
    }
    node.append(err, meta);
    state.nodes.set(msg, node);
    return node;
  }

  function renderMessages() {
    const box = $('messages');
    box.replaceChildren();
    const conv = state.current;
    if (!conv || conv.messages.length === 0) box.append(state.empty);
    for (const msg of conv ? conv.messages : []) {
      box.append(messageNode(msg));
      paintMessage(msg);
    }
    box.scrollTop = box.scrollHeight;
    $('system').value = conv ? conv.system || '' : state.settings.system;
  }

  function renderList() {
    const ul = $('conversations');
    ul.replaceChildren();
    const sorted = [...state.convs].sort((a, b) => b.updated - a.updated);
    for (const conv of sorted) {
      const li = el('li', conv === state.current ? 'current' : '');
      const open = el('button', 'open', conv.title || 'New chat');
      open.type = 'button';
      open.title = conv.title || 'New chat';
      open.addEventListener('click', () => switchTo(conv));
      const del = el('button', 'delete', '\u00d7');
      del.type = 'button';
      del.title = 'Delete this conversation';
      del.setAttribute('aria-label', 'Delete ' + (conv.title || 'conversation'));
      del.addEventListener('click', () => deleteConversation(conv));
      li.append(open, del);
      ul.append(li);
    }
    $('title').textContent = state.current && state.current.title ? state.current.title : 'ctgi';
  }

  function setRunning(running) {
    state.running = running;
    $('send').disabled = !!running;
    $('stop').hidden = !running;
    const conv = state.current;
    if (conv) conv.messages.forEach(paintMessage);
  }

  function setStatus(text, ok) {
    const s = $('server-status');
    s.textContent = text;
    s.className = 'status ' + (ok ? 'ok' : 'bad');
  }

  // Save everything; while streaming at most once a second (a reload
  // mid-answer keeps what had arrived).
  function save(now) {
    clearTimeout(state.saveTimer);
    state.saveTimer = 0;
    if (!now) {
      state.saveTimer = setTimeout(() => save(true), 1000);
      return;
    }
    const ok = saveJson(KEY_CONVS, state.convs) && saveJson(KEY_SETTINGS, state.settings) &&
      saveJson(KEY_CURRENT, state.current ? state.current.id : null);
    const note = $('storage-note');
    note.hidden = ok;
    note.textContent = ok ? '' : 'This browser refused to store the conversation (storage full or disabled): it will be lost on reload.';
  }

  /* ---- 6. actions ------------------------------------------------------------------- */

  function numberField(id, lo, hi) {
    const v = $(id).value.trim();
    if (v === '') return null;
    const n = Number(v);
    return Number.isFinite(n) && n >= lo && n <= hi ? n : NaN;
  }

  // The request body for conv's messages, or an Error naming a bad field.
  function requestBody(conv) {
    const temperature = numberField('temperature', 0, 2);
    const top_p = numberField('top-p', 0.0001, 1);
    const max_tokens = numberField('max-tokens', 1, 1e9);
    if (Number.isNaN(temperature)) return new Error('Temperature must be a number from 0 to 2.');
    if (Number.isNaN(top_p)) return new Error('Top p must be a number above 0 and at most 1.');
    if (Number.isNaN(max_tokens) || (max_tokens !== null && !Number.isInteger(max_tokens)))
      return new Error('Max tokens must be a whole number of at least 1 (or empty for the server default).');
    const messages = [];
    if (conv.system && conv.system.trim()) messages.push({ role: 'system', content: conv.system });
    for (const m of conv.messages) if (!m.error || m.content) messages.push({ role: m.role, content: m.content });
    const body = { model: state.model, messages, stream: true, stream_options: { include_usage: true } };
    if (temperature !== null) body.temperature = temperature;
    if (top_p !== null) body.top_p = top_p;
    if (max_tokens !== null) body.max_tokens = max_tokens;
    return body;
  }

  // Append an assistant message to conv and stream the answer into it.
  async function generate(conv) {
    const msg = { role: 'assistant', content: '', stats: null, error: null };
    const body = requestBody(conv);
    conv.messages.push(msg);
    conv.updated = Date.now();
    if (conv === state.current) {
      state.empty.remove();
      $('messages').append(messageNode(msg));
    }
    if (body instanceof Error) {
      msg.error = body.message;
      paintMessage(msg);
      save(true);
      return;
    }
    const controller = new AbortController();
    setRunning({ conv, msg, controller });
    const t0 = performance.now();
    let tFirst = null, frame = 0, count = 0;
    try {
      const res = await streamChat(body, state.settings, controller.signal, {
        onText(piece) {
          if (tFirst === null) tFirst = performance.now();
          count++;
          msg.content += piece;
          if (!frame) frame = requestAnimationFrame(() => { frame = 0; paintMessage(msg); follow(); });
          save(false);
        },
      });
      count = res.tokens;
      msg.stats = finalStats(t0, tFirst, count, res.finish || 'done');
    } catch (e) {
      const stopped = e.name === 'AbortError';
      msg.stats = finalStats(t0, tFirst, count, stopped ? 'stopped' : 'error');
      if (!stopped) msg.error = e.message;
    }
    cancelAnimationFrame(frame);
    conv.updated = Date.now();
    setRunning(null);
    paintMessage(msg);
    follow();
    renderList();
    save(true);
  }

  // TTFT: request sent -> first text.  tok/s: the tokens after the first
  // over the time after the first (the decode speed, without the prompt's).
  function finalStats(t0, tFirst, tokens, finish) {
    const now = performance.now();
    const s = { ttft_ms: tFirst === null ? null : tFirst - t0, tokens: tFirst === null ? 0 : tokens, tps: null, finish };
    if (tFirst !== null && tokens > 1 && now > tFirst) s.tps = (tokens - 1) / ((now - tFirst) / 1000);
    return s;
  }

  // Keep the newest text in view unless the reader scrolled up.
  function follow() {
    const box = $('messages');
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
  }

  function newConversation() {
    const conv = { id: newId(), title: '', system: state.settings.system, messages: [], updated: Date.now() };
    state.convs.push(conv);
    return conv;
  }

  function send(ev) {
    ev.preventDefault();
    if (state.running) return;
    const text = $('prompt').value;
    if (!text.trim()) return;
    let conv = state.current;
    if (!conv) { conv = newConversation(); state.current = conv; }
    const last = conv.messages[conv.messages.length - 1];
    if (last && last.role === 'assistant' && last.error && !last.content) conv.messages.pop(); // a failed try
    conv.messages.push({ role: 'user', content: text });
    if (!conv.title) conv.title = text.trim().replace(/\s+/g, ' ').slice(0, 60);
    $('prompt').value = '';
    renderMessages();
    renderList();
    generate(conv);
  }

  function stop() {
    if (state.running) state.running.controller.abort(); // closes the connection: the server cancels
  }

  // Drop the last answer (and an error) and ask again.
  function regenerate() {
    const conv = state.current;
    if (state.running || !conv) return;
    const last = conv.messages[conv.messages.length - 1];
    if (!last || last.role !== 'assistant') return;
    conv.messages.pop();
    renderMessages();
    generate(conv);
  }

  function switchTo(conv) {
    state.current = conv;
    renderMessages();
    renderList();
    $('sidebar').classList.remove('open');
    $('toggle-sidebar').setAttribute('aria-expanded', 'false');
    save(true);
  }

  function deleteConversation(conv) {
    if (state.running && state.running.conv === conv) stop();
    state.convs = state.convs.filter(c => c !== conv);
    if (state.current === conv) state.current = null;
    renderMessages();
    renderList();
    save(true);
  }

  function startNew() {
    if (state.current && state.current.messages.length === 0) { $('prompt').focus(); return; }
    state.current = null; // created on the first message, so empty chats do not pile up
    renderMessages();
    renderList();
    $('sidebar').classList.remove('open');
    $('prompt').focus();
    save(true);
  }

  // Settings fields -> state.settings (kept across reloads); the system
  // prompt belongs to the conversation shown, and seeds new ones.
  function bindSettings() {
    const fields = { temperature: 'temperature', 'top-p': 'top_p', 'max-tokens': 'max_tokens', 'api-key': 'api_key' };
    for (const [id, key] of Object.entries(fields)) {
      $(id).value = state.settings[key] ?? '';
      $(id).addEventListener('input', () => { state.settings[key] = $(id).value; save(true); });
    }
    $('system').addEventListener('input', () => {
      state.settings.system = $('system').value;
      if (state.current) state.current.system = $('system').value;
      save(true);
    });
  }

  // Which model answers, and whether the server is ready (503 while it loads: ask again).
  async function checkServer() {
    try {
      const res = await fetch(apiUrl('v1/models'), { headers: headers(state.settings) });
      if (!res.ok) {
        setStatus(res.status === 503 ? 'model loading\u2026' : `server answered ${res.status}`, false);
        if (res.status === 503) setTimeout(checkServer, 2000);
        return;
      }
      const j = await res.json();
      const id = j && j.data && j.data[0] && j.data[0].id;
      if (typeof id === 'string') state.model = id;
      setStatus(state.model.split('/').pop(), true);
    } catch (e) {
      setStatus('server unreachable', false);
      setTimeout(checkServer, 5000);
    }
  }

  function init() {
    state.empty = $('empty');
    state.convs = loadConversations();
    state.settings = { ...DEFAULT_SETTINGS, ...loadJson(KEY_SETTINGS, {}) };
    const cur = loadJson(KEY_CURRENT, null);
    state.current = state.convs.find(c => c.id === cur) || null;
    bindSettings();
    $('composer').addEventListener('submit', send);
    $('prompt').addEventListener('keydown', e => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
    });
    $('stop').addEventListener('click', stop);
    $('new-chat').addEventListener('click', startNew);
    $('toggle-sidebar').addEventListener('click', () => {
      const open = $('sidebar').classList.toggle('open');
      $('toggle-sidebar').setAttribute('aria-expanded', String(open));
    });
    renderMessages();
    renderList();
    checkServer();
  }

  window.ctgi = Object.freeze({ renderMarkdown, SseParser });
  init();
})();
