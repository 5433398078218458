#!/usr/bin/env node
// jinja_oracle.mjs — the reference chat-template renderer: @huggingface/jinja (0.5.11,
// byte-identical to Python Jinja2 as transformers configures it, per
// shared/reference/clients.md §Q5).
//
//   node tests/js/jinja_oracle.mjs render TEMPLATE_FILE CONTEXT.json
//       renders one template with the members of CONTEXT.json as variables and prints the
//       output byte-exact (no added newline); on a template error prints "error: <message>"
//       on stderr and exits 1.  CONTEXT.json may carry "now" (unix seconds) for strftime_now.
//   node tests/js/jinja_oracle.mjs cases OUTDIR
//       writes the golden test's cases (templates.json × conversations.json under
//       tests/js/chat/, plus the §Q5 cases of chat/q5.json) into OUTDIR and renders each one;
//       OUTDIR/cases.tsv then lists one case per line:
//           id <TAB> name <TAB> kind
//       kind "text": OUTDIR/<id>.expect holds the oracle's output;
//       kind "error": OUTDIR/<id>.expect holds the oracle's error message; "raise" when the
//       message is a raise_exception literal of the template (ctgi must print that message);
//       kind "q5": OUTDIR/<id>.expect holds the output recorded in clients.md §Q5.
//       OUTDIR/<id>.args holds ctgi chat-template's arguments, one per line.
//       (chat_template_golden_test.sh runs ctgi per case and compares byte for byte.)
//
// The context is the one ctgi's chat_template.c builds: messages, bos_token, eos_token,
// add_generation_prompt, tools (null when absent), extra kwargs.  Continuation (the last
// message is the assistant's): render with add_generation_prompt = false, then cut the output
// right after the LAST occurrence of that message's content; if the content is not found
// verbatim, its whitespace-stripped form (" \t\n\r\f\v") is searched; if neither is found (or
// the content is empty / not a string) the output is kept whole — the rule of chat_template.h.
//
// strftime_now: both sides read a fixed clock (NOW below, given to ctgi as --now); here the
// global Date is replaced so that `new Date()` is that instant, and the test runs with TZ=UTC.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHAT = path.join(HERE, "chat");
const NM = path.join(HERE, "node_modules");
const NOW = 1721952000; // 2024-07-26T00:00:00Z (the date Llama-3.1's template defaults to)

function fixClock(seconds) {
    const RealDate = Date;
    const fixed = seconds * 1000;
    globalThis.Date = class extends RealDate {
        constructor(...args) {
            if (args.length === 0) super(fixed);
            else super(...args);
        }
        static now() {
            return fixed;
        }
    };
}


const WS = " \t\n\r\f\v";
function strip(s) {
    let a = 0, b = s.length;
    while (a < b && WS.includes(s[a])) a++;
    while (b > a && WS.includes(s[b - 1])) b--;
    return s.slice(a, b);
}

// Byte-wise search, so that the cut agrees with the C side on any text.
function cutAfter(out, content) {
    if (typeof content !== "string") return out;
    const buf = Buffer.from(out, "utf8");
    for (const c of [content, strip(content)]) {
        const needle = Buffer.from(c, "utf8");
        if (needle.length === 0) continue;
        const at = buf.lastIndexOf(needle);
        if (at >= 0) return buf.subarray(0, at + needle.length).toString("utf8");
    }
    return out;
}

// Render like chat_template_render: returns {text} or {error}.
export function renderChat(source, ctx) {
    const msgs = ctx.messages || [];
    const last = msgs[msgs.length - 1];
    const cont = last && typeof last === "object" && last.role === "assistant";
    const vars = { ...(ctx.kwargs || {}) };
    vars.messages = msgs;
    vars.bos_token = ctx.bos_token ?? "";
    vars.eos_token = ctx.eos_token ?? "";
    vars.add_generation_prompt = (ctx.add_generation_prompt ?? true) && !cont;
    vars.tools = ctx.tools ?? null;
    try {
        const out = new Template(source).render(vars);
        return { text: cont ? cutAfter(out, last.content) : out };
    } catch (e) {
        return { error: e && e.message !== undefined ? e.message : String(e) };
    }
}

function tokenText(t) {
    if (t == null) return "";
    return typeof t === "string" ? t : t.content ?? "";
}

function loadTemplates() {
    const list = JSON.parse(fs.readFileSync(path.join(CHAT, "templates.json"), "utf8")).templates;
    return list.map((t) => {
        if (t.file) return { ...t, source: fs.readFileSync(path.join(CHAT, "templates", t.file), "utf8") };
        const cfgPath = path.join(NM, t.npm, "models", "tokenizer_config.json");
        if (!fs.existsSync(cfgPath)) throw new Error(`${cfgPath} is missing (run npm ci in tests/js)`);
        const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
        if (typeof cfg.chat_template !== "string") throw new Error(`${t.npm}: no chat_template string`);
        return { ...t, source: cfg.chat_template, bos: tokenText(cfg.bos_token), eos: tokenText(cfg.eos_token) };
    });
}

// A conversation applies to a template unless it needs something the template never reads:
// tools (a template without a `tools` variable) or kwargs (variables it never names).
function applies(conv, tpl) {
    if (conv.tools && !/\btools\b/.test(tpl.source)) return false;
    for (const k of Object.keys(conv.kwargs || {})) if (!tpl.source.includes(k)) return false;
    return true;
}

function writeCase(dir, id, files, args) {
    if (args.some((a) => a.includes("\n"))) throw new Error(`case ${id}: an argument contains a newline`);
    for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${id}.${name}`), data);
    fs.writeFileSync(path.join(dir, `${id}.args`), args.join("\n") + "\n");
}

function buildCases(dir) {
    fs.mkdirSync(dir, { recursive: true });
    const templates = loadTemplates();
    const { tools, conversations } = JSON.parse(fs.readFileSync(path.join(CHAT, "conversations.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "tools.json"), JSON.stringify(tools));
    const tsv = [];
    let id = 0;
    const add = (tpl, conv, kind, expect) => {
        const n = String(++id).padStart(3, "0");
        const args = ["--template", path.join(dir, `${tpl.name}.jinja`), "--messages", path.join(dir, `${n}.messages.json`),
            "--bos", tpl.bos, "--eos", tpl.eos, "--now", String(NOW)];
        if (conv.add_generation_prompt === false) args.push("--no-generation-prompt");
        if (conv.tools) args.push("--tools", path.join(dir, "tools.json"));
        const files = { "messages.json": JSON.stringify(conv.messages), expect };
        if (conv.kwargs) {
            files["kwargs.json"] = JSON.stringify(conv.kwargs);
            args.push("--kwargs", path.join(dir, `${n}.kwargs.json`));
        }
        writeCase(dir, n, files, args);
        tsv.push(`${n}\t${tpl.name} × ${conv.name}\t${kind}`);
    };
    for (const tpl of templates) {
        fs.writeFileSync(path.join(dir, `${tpl.name}.jinja`), tpl.source);
        for (const conv of conversations) {
            if (!applies(conv, tpl)) continue;
            const r = renderChat(tpl.source, {
                messages: conv.messages, bos_token: tpl.bos, eos_token: tpl.eos,
                add_generation_prompt: conv.add_generation_prompt ?? true,
                tools: conv.tools ? tools : null, kwargs: conv.kwargs,
            });
            if (r.error === undefined) add(tpl, conv, "text", r.text);
            else add(tpl, conv, r.error && tpl.source.includes(r.error) ? "raise" : "error", r.error);
        }
    }
    const q5 = JSON.parse(fs.readFileSync(path.join(CHAT, "q5.json"), "utf8"));
    for (const c of q5.cases) {
        const tpl = templates.find((t) => t.name === c.template);
        if (!tpl) throw new Error(`q5.json: no template ${c.template} in templates.json`);
        const conv = { name: "clients.md §Q5 conversation", messages: q5.messages };
        // The oracle itself must reproduce the recorded output: a self-check line.
        const r = renderChat(tpl.source, { messages: q5.messages, bos_token: tpl.bos, eos_token: tpl.eos });
        tsv.push(`-\toracle reproduces clients.md §Q5 for ${tpl.name}\t${r.text === c.expected ? "self-ok" : "self-fail"}`);
        add(tpl, { ...conv, name: `${conv.name} (recorded output)` }, "q5", c.expected);
    }
    fs.writeFileSync(path.join(dir, "cases.tsv"), tsv.join("\n") + "\n");
}

const [mode, a, b] = process.argv.slice(2);
fixClock(NOW);
if (mode === "cases" && a) {
    buildCases(a);
} else if (mode === "render" && a && b) {
    const ctx = JSON.parse(fs.readFileSync(b, "utf8"));
    if (ctx.now !== undefined) fixClock(ctx.now);
    const r = renderChat(fs.readFileSync(a, "utf8"), ctx);
    if (r.error !== undefined) {
        process.stderr.write(`error: ${r.error}\n`);
        process.exit(1);
    }
    process.stdout.write(r.text);
} else {
    process.stderr.write("usage: jinja_oracle.mjs render TEMPLATE CONTEXT.json | cases OUTDIR\n");
    process.exit(2);
}
