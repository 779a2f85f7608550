// Runs a wasifs-packed wasm32-wasip1 module with @bjorn3/browser_wasi_shim and shows its output.
//
// Query parameters (all optional): module=URL (fetched and run at once), args=ARG (repeatable:
// argv[1..]), invoke=EXPORT (a reactor: _initialize, then this export), report=URL (when done, POST
// exit_code, results, error, stdout and stderr there as `key value` lines, bytes in hex;
// tests/tests/browser.rs uses it).
//
// The WASI side is deliberately bare: no preopened directories, an empty stdin, no environment.
// The packed module brings its own files; this is what "no host files at all" means.
import { WASI, WASIProcExit, File, OpenFile, ConsoleStdout, wasi } from "./node_modules/@bjorn3/browser_wasi_shim/dist/index.js";

// stdout/stderr as a pipe: ConsoleStdout answers seeks and positional writes with NOTSUP, where a
// pipe (what wasmtime gives a program) answers ESPIPE. Zig's std.Io tries a positional write first
// and falls back to streaming only on ESPIPE; on NOTSUP every Zig program fails with WriteFailed.
class PipeOut extends ConsoleStdout {
  fd_seek() { return { ret: wasi.ERRNO_SPIPE, offset: 0n }; }
  fd_tell() { return { ret: wasi.ERRNO_SPIPE, offset: 0n }; }
  fd_pwrite() { return { ret: wasi.ERRNO_SPIPE, nwritten: 0 }; }
}

const $ = (id) => document.getElementById(id);
const decoder = () => new TextDecoder("utf-8", { fatal: false });

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

// Instantiates and runs `bytes` as `name`; returns {stdout, stderr, exit_code, results, error}.
async function run(bytes, name, args, invoke) {
  const out = [], err = [];
  const outText = decoder(), errText = decoder();
  $("stdout").textContent = "";
  $("stderr").textContent = "";
  const fds = [
    new OpenFile(new File([])), // stdin: empty
    new PipeOut((b) => { out.push(b.slice()); $("stdout").textContent += outText.decode(b, { stream: true }); }),
    new PipeOut((b) => { err.push(b.slice()); $("stderr").textContent += errText.decode(b, { stream: true }); }),
  ];
  const wasi = new WASI([name, ...args], [], fds, { debug: false });
  const result = { exit_code: 0, results: [], error: null };
  try {
    const { instance } = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: wasi.wasiImport });
    if (invoke) {
      wasi.initialize(instance);
      const fn = instance.exports[invoke];
      if (typeof fn !== "function") throw new Error(`the module exports no function '${invoke}'`);
      // Reactor exports may still call proc_exit.
      try {
        const r = fn();
        result.results = r === undefined ? [] : (Array.isArray(r) ? r : [r]).map(String);
      } catch (e) {
        if (e instanceof WASIProcExit) result.exit_code = e.code;
        else throw e;
      }
    } else {
      result.exit_code = wasi.start(instance);
    }
  } catch (e) {
    result.error = String(e && e.stack ? e.stack : e);
  }
  result.stdout = concat(out);
  result.stderr = concat(err);
  return result;
}

function show(result) {
  $("status").textContent = result.error
    ? `trapped: ${result.error}`
    : `exit code ${result.exit_code}` + (result.results.length ? `, returned ${result.results.join(", ")}` : "");
}

// One `key value` line per field; byte strings in hex (no JSON parser needed on the other side).
async function report(url, result) {
  const body = [
    `exit_code ${result.exit_code}`,
    `results ${result.results.join(" ")}`,
    `error ${result.error === null ? "" : hex(new TextEncoder().encode(result.error))}`,
    `stdout ${hex(result.stdout)}`,
    `stderr ${hex(result.stderr)}`,
  ].join("\n") + "\n";
  await fetch(url, { method: "POST", headers: { "content-type": "text/plain" }, body });
}

async function fromQuery() {
  const q = new URLSearchParams(location.search);
  const module = q.get("module");
  if (!module) return;
  $("module").value = module;
  $("args").value = q.getAll("args").join(" ");
  $("invoke").value = q.get("invoke") || "";
  let result;
  try {
    const resp = await fetch(module);
    if (!resp.ok) throw new Error(`fetching ${module}: HTTP ${resp.status}`);
    const bytes = await resp.arrayBuffer();
    const name = module.split("/").pop().split("?")[0];
    result = await run(bytes, name, q.getAll("args"), q.get("invoke"));
  } catch (e) {
    result = { stdout: new Uint8Array(), stderr: new Uint8Array(), exit_code: -1, results: [], error: String(e) };
  }
  show(result);
  if (q.get("report")) await report(q.get("report"), result);
}

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const args = $("args").value.split(" ").filter((a) => a !== "");
  const invoke = $("invoke").value.trim() || null;
  const file = $("file").files[0];
  let bytes, name;
  if (file) {
    bytes = await file.arrayBuffer();
    name = file.name;
  } else {
    const url = $("module").value.trim();
    if (!url) { $("status").textContent = "choose a module first"; return; }
    const resp = await fetch(url);
    if (!resp.ok) { $("status").textContent = `fetching ${url}: HTTP ${resp.status}`; return; }
    bytes = await resp.arrayBuffer();
    name = url.split("/").pop();
  }
  $("status").textContent = "running…";
  show(await run(bytes, name, args, invoke));
});

fromQuery();
