// The playground page: the editor, the fields and the URL fragment, and a worker that runs
// cnndsl.playground. Everything the page shows comes from that module's answer.
"use strict";

(() => {
  const KEYS = ["spec", "input", "classes", "task", "scale"];
  const PATTERNS = { input: /^\d+,\d+,\d+$/, classes: /^\d+$/, task: /^[a-z][a-z-]*$/, scale: /^[A-Za-z_]\w*$/ };
  const DEBOUNCE_MS = 150;
  const MOVES = /^(Arrow|Home|End|Page)/;
  const STUCK_MS = 20000;
  const stuckMs = () => window.cnndslPlaygroundStuckMs || STUCK_MS; // a test sets a shorter one

  const $ = (id) => document.getElementById(id);
  const editor = $("pg-spec");
  const fields = { input: $("pg-input"), classes: $("pg-classes"), task: $("pg-task"), scale: $("pg-scale") };
  // What the page has done, for its tests and benchmark: when it was ready and first showed an
  // answer (ms since the page opened), each check's time in the worker, and whether what it
  // shows answers what the editor and the fields hold now.
  const state = (window.cnndslPlayground = {
    ready: null, first: null, checks: [], pictures: [], answers: 0, answer: null, drawn: null,
  });
  state.settled = () =>
    !busy && !queued && debounce === null && state.shown === JSON.stringify(request()) && state.drawn === state.answers;

  let worker = null;
  let ready = false;
  let busy = false;
  let queued = false;
  let debounce = null;
  let stuck = null;
  let written = null;
  let stopped = null;
  let sent = null;
  let hovered = 0;
  let pointing = null;

  // --- the URL fragment: #spec=...&input=H,W,C&classes=N&task=NAME ---------------------------

  function readFragment(hash) {
    const text = hash.replace(/^#/, "");
    if (text === "") return { values: null };
    const values = {};
    for (const part of text.split("&")) {
      const equals = part.indexOf("=");
      const key = equals < 0 ? part : part.slice(0, equals);
      if (!KEYS.includes(key)) return { problem: `unknown part "${key.slice(0, 20)}"` };
      if (key in values) return { problem: `"${key}" given twice` };
      try {
        values[key] = decodeURIComponent(part.slice(equals + 1));
      } catch (error) {
        return { problem: `"${key}" is not percent-encoded text` };
      }
      if (key in PATTERNS && values[key] !== "" && !PATTERNS[key].test(values[key])) {
        return { problem: `"${key}" is not of the form ${key === "input" ? "H,W,C" : PATTERNS[key].source}` };
      }
    }
    if (!("spec" in values)) return { problem: "no spec=" };
    return { values };
  }

  function fragment() {
    const parts = [`spec=${encodeURIComponent(editor.value)}`];
    for (const key of KEYS.slice(1)) {
      const value = fields[key].value.trim();
      if (value !== "") parts.push(`${key}=${encodeURIComponent(value)}`);
    }
    return "#" + parts.join("&");
  }

  function load(hash) {
    const { values, problem } = readFragment(hash);
    note(problem ? `The link could not be read (${problem}); the playground starts empty.` : "");
    const given = values || {};
    editor.value = given.spec || "";
    for (const key of KEYS.slice(1)) fields[key].value = given[key] || "";
    written = hash;
  }

  // --- the worker -------------------------------------------------------------------------------

  function start() {
    ready = busy = false;
    worker = new Worker("worker.js");
    worker.onmessage = receive;
    worker.onerror = (event) => status("failed", `The checker failed to start: ${event.message}`);
  }

  function request() {
    const asked = { spec: editor.value };
    for (const key of KEYS.slice(1)) asked[key] = fields[key].value.trim() || null;
    return asked;
  }

  function send() {
    if (!ready || busy) {
      queued = true;
      return;
    }
    queued = false;
    busy = true;
    status("checking", "Checking…");
    sent = JSON.stringify(request());
    worker.postMessage({ id: state.answers, request: JSON.parse(sent) });
    stuck = setTimeout(restart, stuckMs());
  }

  function restart() {
    worker.terminate();
    stopped = JSON.stringify(request());
    note(`A check took over ${stuckMs() / 1000} s and was stopped; the checker starts again.`);
    start();
    queued = false;
  }

  function receive(event) {
    const message = event.data;
    if (message.kind === "failed") return status("failed", `The checker failed to start: ${message.message}`);
    if (message.kind === "ready") {
      ready = true;
      state.ready = performance.now();
      state.info = message.info;
      $("pg-version").textContent =
        `cnndsl ${message.info.version} on Pyodide ${message.info.pyodide}, started in ${(message.ms / 1000).toFixed(1)} s`;
      $("pg-tasks").replaceChildren(...message.info.tasks.map((name) => new Option(name, name)));
      $("pg-scale-field").hidden = !message.info.scales;
      if (JSON.stringify(request()) !== stopped) send();
      return;
    }
    if (message.kind === "hover") {
      if (message.id === hovered) $("pg-hover").textContent = message.text || "";
      return;
    }
    if (message.kind === "picture") {
      if (message.id === state.answers - 1) {
        draw(message.svg);
        state.pictures.push(message.ms);
        state.drawn = state.answers;
      }
      return;
    }
    clearTimeout(stuck);
    busy = false;
    state.answers += 1;
    state.checks.push(message.ms);
    state.answer = message.answer;
    state.shown = sent;
    show(message.answer, message.ms);
    if (state.first === null) state.first = performance.now();
    if (queued) send();
  }

  // --- what the page shows ----------------------------------------------------------------------

  function show(answer, ms) {
    const took = `checked in ${ms.toFixed(1)} ms`;
    if (answer.ok) {
      status("ok", `OK: ${answer.layers.toLocaleString("en")} layers, ${answer.total_params.toLocaleString("en")} parameters, ` +
        `output ${answer.output_shape}, hash ${answer.hash} (${took})`);
    } else {
      const errors = answer.problems.filter((problem) => problem.severity === "error").length;
      status("error", `${errors} error${errors === 1 ? "" : "s"} (${took})`);
    }
    $("pg-diagnostics").textContent = answer.diagnostics || "No errors or warnings.";
    $("pg-summary").textContent = answer.summary || "(no summary: the spec does not check)";
    $("pg-canonical").textContent = answer.canonical === null ? "(the text does not read)" : answer.canonical;
  }

  function draw(svg) {
    const box = $("pg-picture");
    if (!svg) return box.replaceChildren();
    const parsed = new DOMParser().parseFromString(svg, "image/svg+xml");
    box.replaceChildren(document.importNode(parsed.documentElement, true));
  }

  function status(kind, text) {
    const line = $("pg-status");
    line.dataset.state = kind;
    line.textContent = text;
  }

  function note(text) {
    const line = $("pg-note");
    line.textContent = text;
    line.hidden = text === "";
  }

  function changed() {
    written = fragment();
    history.replaceState(null, "", written);
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = null;
      send();
    }, DEBOUNCE_MS);
  }

  // The language server's hover for the layer or name at the caret, asked for once the caret is moved
  // (a click, an arrow key) and rests; typing clears it, so that each keystroke costs one check.
  function point(event) {
    if (event.type === "keyup" && !MOVES.test(event.key)) return;
    clearTimeout(pointing);
    pointing = setTimeout(() => {
      if (!ready || document.activeElement !== editor) return;
      const offset = [...editor.value.slice(0, editor.selectionStart)].length; // code points, as Python counts
      hovered += 1;
      worker.postMessage({ kind: "hover", id: hovered, request: { ...request(), offset } });
    }, DEBOUNCE_MS);
  }

  editor.addEventListener("input", () => {
    $("pg-hover").textContent = "";
    hovered += 1; // an answer to an earlier hover is not shown
    changed();
  });
  for (const name of ["mouseup", "keyup", "focus"]) editor.addEventListener(name, point);
  for (const field of Object.values(fields)) field.addEventListener("input", changed);
  window.addEventListener("hashchange", () => {
    if (location.hash === written) return;
    load(location.hash);
    send();
  });

  load(location.hash);
  status("loading", "Starting Python in the page…");
  start();
  send();
})();
