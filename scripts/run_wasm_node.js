#!/usr/bin/env node
// Run a wasm32-wasip1 command module under Node's node:wasi (Node >= 22; multi-memory).
//
//   node scripts/run_wasm_node.js MODULE [--dir HOST::GUEST]... [--times N] [-- ARGS...]
//
// stdio is inherited; exits with the module's exit code (0 when _start returns), or 134 after
// printing a trap. With --times N, runs it N times, each in a fresh instance, and prints the median
// time of one (instantiation and run) in nanoseconds as the last line (scripts/bench, P3a). Every
// WASI import is wrapped in a plain JS function, so that Node 22 works too: its V8 aborts on fast
// API calls from a module with two memories (Node 24.21 needs no wrapping; measured by
// scripts/engines.sh).
'use strict';
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const path = require('node:path');

function usage(msg) {
  process.stderr.write(`run_wasm_node.js: ${msg}\nusage: node scripts/run_wasm_node.js MODULE [--dir HOST::GUEST]... [--times N] [-- ARGS...]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let file = null;
const preopens = {};
const args = [];
let times = 0;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--') { args.push(...argv.slice(i + 1)); break; }
  if (a === '--dir') {
    const d = argv[++i];
    if (d === undefined) usage('--dir needs HOST::GUEST');
    const [host, guest] = d.includes('::') ? d.split('::', 2) : [d, d];
    preopens[guest] = host;
  } else if (a === '--times') {
    times = Number(argv[++i]);
    if (!Number.isInteger(times) || times < 1) usage('--times needs a count of at least 1');
  } else if (a === '-h' || a === '--help') {
    usage('help');
  } else if (file === null) {
    file = a;
  } else {
    args.push(a);
  }
}
if (file === null) usage('no MODULE given');

let wasmModule;
try {
  wasmModule = new WebAssembly.Module(fs.readFileSync(file));
} catch (e) {
  process.stderr.write(`trap: ${e && e.message ? e.message : e}\n`);
  process.exit(134);
}

// Runs the module once in a fresh instance: its exit code, or 134 after printing a trap.
function runOnce() {
  const wasi = new WASI({ version: 'preview1', args: [path.basename(file), ...args], env: {}, preopens, returnOnExit: true });
  const raw = wasi.getImportObject();
  const imports = {};
  for (const [mod, fns] of Object.entries(raw)) {
    imports[mod] = {};
    for (const [name, fn] of Object.entries(fns)) {
      imports[mod][name] = typeof fn === 'function' ? (...a) => fn(...a) : fn;
    }
  }
  try {
    return wasi.start(new WebAssembly.Instance(wasmModule, imports));
  } catch (e) {
    process.stderr.write(`trap: ${e && e.message ? e.message : e}\n`);
    return 134;
  }
}

if (times === 0) {
  process.exitCode = runOnce();
} else {
  const ns = [];
  for (let i = 0; i < times; i++) {
    const t = process.hrtime.bigint();
    const code = runOnce();
    ns.push(Number(process.hrtime.bigint() - t));
    if (code !== 0) {
      process.stderr.write(`run_wasm_node.js: exit ${code}\n`);
      process.exit(1);
    }
  }
  ns.sort((a, b) => a - b);
  console.log(ns[Math.floor(ns.length / 2)]);
}
