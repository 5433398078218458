// fake_hub.mjs — a small stand-in for the Hugging Face Hub on loopback, for
// tests/server/hub_test.sh (`ctgi download`, `ctgi serve --model-id org/name`).
//
//   node fake_hub.mjs PORT_FILE LOG_FILE
//
// Listens on 127.0.0.1 (any free port, written to PORT_FILE once ready) and
// answers as the Hub does:
//   GET  /api/models/{org}/{name}/revision/{rev}  -> {id, sha, siblings: [{rfilename}]}
//   HEAD|GET /{org}/{name}/resolve/{rev}/{file}   -> small files: 200 with ETag = git blob sha1;
//        LFS files (.gguf, .safetensors, tokenizer.json): 302 to a "CDN" URL on
//        http://localhost:PORT (another origin) with X-Linked-Etag = sha256 and X-Linked-Size;
//        every answer carries X-Repo-Commit; errors carry X-Error-Code / X-Error-Message
//   GET  /cdn/{org}/{name}/{sha256}               -> the bytes, with Range support
// Each request is appended to LOG_FILE as one line:
//   METHOD PATH host=HOST range=RANGE|- auth=AUTHORIZATION|-
//
// Repos (bytes from $CTGI_MODELS):
//   test/stories-gguf    stories260K.gguf + README.md
//   test/multi-gguf      stories260K-F32.gguf, stories260K-Q4_K_M.gguf, mmproj-stories-Q4_K_M.gguf
//   test/ambiguous-gguf  stories260K-F32.gguf, stories260K-Q8_0.gguf
//   test/qwen2-hf        synth/qwen2-bpe-hf: config, generation config, tokenizer files, model.safetensors
//   test/qwen2-sharded   the same weights split here into an index + 2 shards
//   test/gated           stories260K.gguf; needs "Authorization: Bearer hf_fake_token"
//                        (none: 401 GatedRepo; another token: 403)
//   test/flaky           stories260K.gguf; the first CDN transfer drops the connection after 300000 bytes
//   test/corrupt         stories260K.gguf; the CDN serves bytes that differ from the announced sha256
//   test/old-name        renamed: its URLs redirect (relative) to test/stories-gguf
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [portFile, logFile] = process.argv.slice(2);
if (!portFile || !logFile) {
    console.error('usage: node fake_hub.mjs PORT_FILE LOG_FILE');
    process.exit(2);
}
const MODELS = process.env.CTGI_MODELS;
if (!MODELS) {
    console.error('fake_hub: CTGI_MODELS is not set');
    process.exit(2);
}
const TOKEN = 'hf_fake_token';
const DROP_AFTER = 300000;

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const gitSha1 = (b) => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (name) => /\.(gguf|safetensors)$/.test(name) || name === 'tokenizer.json';

// safetensors bytes -> two shards + index (tensors split in half, in name order)
function shard(buf) {
    const hlen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
    const data = buf.subarray(8 + hlen);
    const names = Object.keys(header).filter((k) => k !== '__metadata__').sort();
    const halves = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
    const files = {}, weightMap = {};
    let total = 0;
    halves.forEach((part, i) => {
        const fname = `model-0000${i + 1}-of-00002.safetensors`;
        const h = {__metadata__: {format: 'pt'}}, chunks = [];
        let off = 0;
        for (const n of part) {
            const [b, e] = header[n].data_offsets;
            h[n] = {...header[n], data_offsets: [off, off + (e - b)]};
            chunks.push(data.subarray(b, e));
            off += e - b;
            weightMap[n] = fname;
        }
        total += off;
        let hj = JSON.stringify(h);
        hj += ' '.repeat((8 - (hj.length % 8)) % 8);
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(Buffer.byteLength(hj)));
        files[fname] = Buffer.concat([len, Buffer.from(hj), ...chunks]);
    });
    files['model.safetensors.index.json'] = Buffer.from(
        JSON.stringify({metadata: {total_size: total}, weight_map: weightMap}, null, 2));
    return files;
}

function buildRepos() {
    const gguf = fs.readFileSync(path.join(MODELS, 'stories260K.gguf'));
    const hfDir = path.join(MODELS, 'synth', 'qwen2-bpe-hf');
    const hf = {};
    for (const f of fs.readdirSync(hfDir)) hf[f] = fs.readFileSync(path.join(hfDir, f));
    const {'model.safetensors': weights, ...hfRest} = hf;
    const readme = Buffer.from('# stories260K\n\nA fake Hub repo for ctgi tests.\n');
    const corrupt = Buffer.from(gguf);
    corrupt[corrupt.length >> 1] ^= 0xff;
    const repos = {
        'test/stories-gguf': {files: {'README.md': readme, 'stories260K.gguf': gguf}},
        'test/multi-gguf': {files: {'stories260K-F32.gguf': gguf, 'stories260K-Q4_K_M.gguf': gguf,
                                    'mmproj-stories-Q4_K_M.gguf': readme}},
        'test/ambiguous-gguf': {files: {'stories260K-F32.gguf': gguf, 'stories260K-Q8_0.gguf': gguf}},
        'test/qwen2-hf': {files: hf},
        'test/qwen2-sharded': {files: {...hfRest, ...shard(weights)}},
        'test/gated': {files: {'stories260K.gguf': gguf}, gated: true},
        'test/flaky': {files: {'stories260K.gguf': gguf}, flaky: true},
        'test/corrupt': {files: {'stories260K.gguf': gguf}, serve: {'stories260K.gguf': corrupt}},
    };
    for (const [id, r] of Object.entries(repos)) {
        r.sha = crypto.createHash('sha1').update(id).digest('hex');
        r.meta = {};
        for (const [name, b] of Object.entries(r.files))
            r.meta[name] = {lfs: isLfs(name), sha256: sha256(b), git: gitSha1(b), size: b.length};
    }
    return repos;
}

const repos = buildRepos();
const renamed = {'test/old-name': 'test/stories-gguf'};
const blobs = new Map(); // "org/name/sha256" -> {bytes, repo}
for (const [id, r] of Object.entries(repos))
    for (const [name, m] of Object.entries(r.meta))
        if (m.lfs) blobs.set(`${id}/${m.sha256}`, {bytes: (r.serve && r.serve[name]) || r.files[name], repo: r});

function fail(res, status, code, message, extra = {}) {
    res.writeHead(status, {'Content-Type': 'application/json', 'X-Error-Code': code, 'X-Error-Message': message,
                           ...extra});
    res.end(JSON.stringify({error: message}));
}

// false when allowed; true when the 401/403 has been sent
function denied(req, res, id, r) {
    if (!r.gated) return false;
    const auth = req.headers.authorization;
    if (auth === `Bearer ${TOKEN}`) return false;
    if (!auth) fail(res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    else fail(res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list.`);
    return true;
}

function revisionOk(r, rev) { return rev === 'main' || rev === r.sha; }

function serveBytes(req, res, bytes, headers, drop) {
    let start = 0, status = 200;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (m) {
        start = Number(m[1]);
        if (start >= bytes.length) {
            res.writeHead(416, {'Content-Range': `bytes */${bytes.length}`});
            return res.end();
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    const body = bytes.subarray(start);
    res.writeHead(status, {...headers, 'Content-Length': body.length, 'Accept-Ranges': 'bytes'});
    if (req.method === 'HEAD') return res.end();
    if (drop && body.length > drop) return res.write(body.subarray(0, drop), () => res.socket.destroy());
    res.end(body);
}

function handle(req, res, port) {
    const url = new URL(req.url, 'http://x');
    const p = decodeURIComponent(url.pathname);
    fs.appendFileSync(logFile, `${req.method} ${url.pathname} host=${req.headers.host} range=${req.headers.range || '-'} auth=${req.headers.authorization || '-'}\n`);
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(p);
    if (m && renamed[m[1]]) {
        res.writeHead(307, {Location: `/api/models/${renamed[m[1]]}/revision/${encodeURIComponent(m[2])}`});
        return res.end();
    }
    if (m) {
        const [, id, rev] = m, r = repos[id];
        if (!r) return fail(res, 404, 'RepoNotFound', `Repository not found: ${id}`);
        if (denied(req, res, id, r)) return;
        if (!revisionOk(r, rev)) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
        res.writeHead(200, {'Content-Type': 'application/json'});
        return res.end(JSON.stringify({_id: r.sha.slice(0, 24), id, modelId: id, sha: r.sha, private: false,
                                       gated: r.gated ? 'auto' : false,
                                       siblings: Object.keys(r.files).map((rfilename) => ({rfilename}))}));
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    if (m && renamed[m[1]]) {
        res.writeHead(307, {Location: url.pathname.replace(m[1], renamed[m[1]])});
        return res.end();
    }
    if (m) {
        const [, id, rev, file] = m, r = repos[id];
        if (!r) return fail(res, 404, 'RepoNotFound', `Repository not found: ${id}`);
        if (denied(req, res, id, r)) return;
        if (!revisionOk(r, rev)) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
        const meta = r.meta[file];
        if (!meta) return fail(res, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`, {'X-Repo-Commit': r.sha});
        if (!meta.lfs)
            return serveBytes(req, res, r.files[file], {ETag: `"${meta.git}"`, 'X-Repo-Commit': r.sha}, 0);
        res.writeHead(302, {Location: `http://localhost:${port}/cdn/${id}/${meta.sha256}?name=${encodeURIComponent(file)}`,
                            ETag: `"${meta.git}"`, 'X-Linked-Etag': `"${meta.sha256}"`,
                            'X-Linked-Size': String(meta.size), 'X-Repo-Commit': r.sha, 'Content-Length': 0});
        return res.end();
    }
    m = /^\/cdn\/([^/]+\/[^/]+\/[0-9a-f]{64})$/.exec(p);
    if (m && blobs.has(m[1]) && (req.method === 'GET' || req.method === 'HEAD')) {
        const b = blobs.get(m[1]);
        const drop = b.repo.flaky && !b.repo.dropped ? DROP_AFTER : 0;
        if (drop && req.method === 'GET') b.repo.dropped = true;
        return serveBytes(req, res, b.bytes, {ETag: `"${m[1].slice(-64)}"`}, drop);
    }
    fail(res, 404, 'EntryNotFound', `no route for ${req.method} ${p}`);
}

const server = http.createServer((req, res) => handle(req, res, server.address().port));
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
