// The playground's checker: Pyodide and the cnndsl wheel, in a worker so that a slow check
// never holds up typing. It answers each request with what cnndsl.playground.respond returns
// and the time the call took; it knows nothing of the notation.
"use strict";

importScripts("pyodide/pyodide.js");

const started = performance.now();
const phases = {};
const mark = (name) => (phases[name] = performance.now() - started);
const ready = (async () => {
  const runtime = await (await fetch("runtime.json")).json();
  const fetched = fetch(runtime.wheel); // while Pyodide starts
  const pyodide = await loadPyodide({ indexURL: new URL("pyodide/", self.location.href).href });
  mark("pyodide");
  const wheel = await fetched;
  if (!wheel.ok) throw new Error(`${runtime.wheel}: ${wheel.status} ${wheel.statusText}`);
  pyodide.unpackArchive(await wheel.arrayBuffer(), "wheel");
  mark("wheel");
  const playground = pyodide.pyimport("cnndsl.playground");
  mark("import");
  const info = JSON.parse(playground.info());
  info.phases = phases;
  info.pyodide = runtime.pyodide;
  info.loaded = pyodide.runPython(
    "import sys; ','.join(sorted(m for m in sys.modules if m.partition('.')[0] in {'numpy', 'keras', 'tensorflow', 'torch', 'lark'}))"
  );
  return { playground, info };
})();

ready.then(
  ({ info }) => postMessage({ kind: "ready", info, ms: performance.now() - started }),
  (error) => postMessage({ kind: "failed", message: String(error && error.message ? error.message : error) })
);

// Each request is answered without its picture, then the picture follows in a message of its own;
// a hover request gets what the language server's hover shows at its offset.
onmessage = async (event) => {
  const { playground } = await ready;
  const { id, request } = event.data;
  if (event.data.kind === "hover") {
    postMessage({ kind: "hover", id, ...JSON.parse(playground.hover(JSON.stringify(request))) });
    return;
  }
  let start = performance.now();
  const answer = playground.respond(JSON.stringify({ ...request, picture: false }));
  postMessage({ kind: "answer", id, answer: JSON.parse(answer), ms: performance.now() - start });
  start = performance.now();
  const drawn = JSON.parse(playground.picture());
  postMessage({ kind: "picture", id, svg: drawn.svg, ms: performance.now() - start });
};
