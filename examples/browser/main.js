// Runs a wasifs-packed wasm32-wasip1 module with @bjorn3/browser_wasi_shim and shows its output.
//
// Query parameters (all optional): module=URL (fetched and run at once), args=ARG (repeatable:
// argv[1..]), invoke=EXPORT (a reactor: _initialize, then this export), report=URL (when done, POST
// {stdout, stderr (base64), exit_code, results, error} there as JSON; tests/tests/browser.rs uses it).
//
// The WASI side is deliberately bare: no preopened directories, an empty stdin, no environment.
// The packed module brings its own files; this is what "no host files at all" means.
import { WASI, WASIProcExit, File, OpenFile, ConsoleStdout } from "./node_modules/@bjorn3/browser_wasi_shim/dist/index.js";

const $ = (id) => document.getElementById(id);
const decoder = () => new TextDecoder("utf-8", { fatal: false });

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
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
    new ConsoleStdout((b) => { out.push(b.slice()); $("stdout").textContent += outText.decode(b, { stream: true }); }),
    new ConsoleStdout((b) => { err.push(b.slice()); $("stderr").textContent += errText.decode(b, { stream: true }); }),
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
        result.results = r === undefined ? [] : (Array.isArray(r) ? r : [r]).map(Number);
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

async function report(url, result) {
  await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      stdout: base64(result.stdout),
      stderr: base64(result.stderr),
      exit_code: result.exit_code,
      results: result.results,
      error: result.error,
    }),
  });
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
