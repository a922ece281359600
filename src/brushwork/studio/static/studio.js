// brushwork studio: uploads, settings, one job at a time on this page, its live preview, the gallery.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { content: null, styles: [], job: null, events: null, previewBusy: false, previewAgain: false, info: null };

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
}

function say(text, note = false) { $("message").textContent = text || ""; $("message").classList.toggle("note", note); }

async function api(method, url, body, headers = {}) {
  const res = await fetch(url, { method, body, headers });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error((data && data.detail) || `${res.status} ${res.statusText}`);
  return data;
}

// --- pictures --------------------------------------------------------------------------------
async function upload(file, kind) {
  say(`uploading ${file.name} …`);
  try {
    const info = await api("POST", `/api/uploads?name=${encodeURIComponent(file.name)}`, file,
                           { "Content-Type": "application/octet-stream" });
    if (kind === "content") state.content = info; else state.styles.push({ info, weight: 1 });
    say("");
  } catch (e) { say(e.message); }
  drawInputs();
}

function thumb(info, extra) {
  return el("div", { className: "thumb", title: info.name },
    el("img", { src: info.thumbnail, alt: info.name }), el("span", { className: "name", textContent: info.name }), ...extra);
}

function drawInputs() {
  $("content-thumbs").replaceChildren(...(state.content ? [thumb(state.content, [])] : []));
  $("style-thumbs").replaceChildren(...state.styles.map((s, i) => {
    const weight = el("input", { type: "number", min: "0", step: "0.1", value: s.weight, title: "blend weight" });
    weight.className = "blend";
    weight.addEventListener("input", () => { s.weight = parseFloat(weight.value) || 0; });
    const remove = el("button", { type: "button", textContent: "remove" });
    remove.addEventListener("click", () => { state.styles.splice(i, 1); drawInputs(); });
    return thumb(s.info, [el("label", {}, "blend ", weight), remove]);
  }));
}

async function uploadAll(files, kind) {
  // As many as a job may use: one photo, and paintings up to the studio's --max-styles.
  const room = kind === "content" ? 1 : Math.max(0, state.info.limits.max_styles - state.styles.length);
  for (const f of [...files].slice(0, room)) await upload(f, kind);
  if (files.length > room) say(`A job takes at most ${state.info.limits.max_styles} paintings.`, true);
}

function dropZone(zone, input, kind) {
  input.addEventListener("change", async () => { await uploadAll(input.files, kind); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault(); zone.classList.remove("over");
    await uploadAll(e.dataTransfer.files, kind);
  });
}

// --- settings ---------------------------------------------------------------------------------
const sliders = {  // slider id -> [option name, slider value -> option, option -> slider value, shown]
  "style-weight": ["style_weight", (v) => +(10 ** v).toPrecision(3), (o) => Math.log10(o), (o) => o],
  "content-weight": ["content_weight", (v) => +(10 ** v).toPrecision(3), (o) => Math.log10(o), (o) => o],
  "size": ["size", (v) => +v, (o) => o, (o) => o],
  "iterations": ["iterations", (v) => +v, (o) => o, (o) => o],
};

// The value a preset or a style loss's default set on a slider, kept exactly until the slider is
// moved: the slider's steps would round it (nn's β 4 is 10^0.602, which a 0.05 step makes 3.98).
const exact = {};

function sliderOption(id) {
  const [, toOption] = sliders[id];
  return exact[id] ?? toOption($(id).value);
}

function showSlider(id) {
  $(`${id}-out`).textContent = sliders[id][3](sliderOption(id));
}

function applyOptions(options) {
  if (options.style_loss) $("style-loss").value = options.style_loss;
  // No style weight given: the style loss's own (the losses differ in size).
  if (options.style_weight === null) options = { ...options, style_weight: state.info.style_weights[$("style-loss").value] };
  for (const [id, [name, , toSlider]] of Object.entries(sliders)) {
    if (options[name] !== undefined && options[name] !== null && options[name] > 0) {
      $(id).value = toSlider(options[name]);
      exact[id] = options[name];
    }
    showSlider(id);
  }
  if (options.color) $("color").value = options.color;
}

function options() {
  const out = { color: $("color").value, style_loss: $("style-loss").value };
  for (const [id, [name]] of Object.entries(sliders)) out[name] = sliderOption(id);
  return out;
}

// --- a job --------------------------------------------------------------------------------------
function clock(s) {
  if (s === null || s === undefined) return "…";
  s = Math.round(s); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function paint() {
  if (!state.content || !state.styles.length) { say("Add a photo and at least one painting first."); return; }
  say("");
  const body = { content: state.content.id, styles: state.styles.map((s) => s.info.id),
                 blend: state.styles.map((s) => s.weight), preset: $("preset").value || null, options: options() };
  try {
    const job = await api("POST", "/api/jobs", JSON.stringify(body), { "Content-Type": "application/json" });
    watch(job);
  } catch (e) { say(e.message); }
}

function watch(job) {
  if (state.events) state.events.close();
  state.job = job; state.previewBusy = false; state.previewAgain = false;
  $("cancel").disabled = false; $("download").hidden = true;
  $("preview").removeAttribute("data-step");
  show(job);
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = events;
  events.addEventListener("progress", (e) => show(JSON.parse(e.data)));
  events.onerror = () => { if (state.job && ["done", "cancelled", "failed"].includes(state.job.state)) events.close(); };
}

function show(job) {
  // Answers may arrive out of order (a DELETE's after the stream's last event): keep the newest.
  if (!state.job || job.id !== state.job.id || job.version < state.job.version) return;
  state.job = job;
  const bar = $("bar");
  bar.max = job.iterations; bar.value = job.step;
  const losses = Object.entries(job.losses).filter(([, v]) => v !== null)  // null: not a finite number
    .map(([k, v]) => `${k} ${v.toPrecision(3)}`).join(", ");
  const where = job.size ? ` · ${job.size} px` : "";
  const text = { queued: "waiting in the queue …",
                 running: `step ${job.step} / ${job.iterations}${where} · ${clock(job.elapsed)} · ETA ${clock(job.eta)}`,
                 done: `done: ${job.step} steps in ${clock(job.elapsed)}`,
                 cancelled: job.error ? `stopped at step ${job.step}: ${job.error}`
                                      : `cancelled at step ${job.step}; the best picture so far is kept`,
                 failed: `failed: ${job.error}` }[job.state];
  $("status").textContent = text + (losses && job.state !== "failed" ? ` — ${losses}` : "");
  $("status").dataset.state = job.state;
  if (job.state === "running" && job.step > 0) refreshPreview(job);
  if (["done", "cancelled", "failed"].includes(job.state)) finished(job);
}

async function refreshPreview(job) {
  // One request at a time: a slow browser asks less often, and the painting never waits for it. A step
  // that ends while one is under way is asked for when it returns (else the page would skip every other one).
  if (state.previewBusy) { state.previewAgain = true; return; }
  state.previewBusy = true; state.previewAgain = false;
  try {
    const res = await fetch(`/api/jobs/${job.id}/preview`, { cache: "no-store" });
    if (res.ok && state.job && state.job.id === job.id) {
      const url = URL.createObjectURL(await res.blob());
      const img = $("preview");
      img.onload = () => URL.revokeObjectURL(url);
      img.src = url; img.hidden = false; img.dataset.step = res.headers.get("X-Step");
    }
  } finally {
    state.previewBusy = false;
    // Still this job's page and still running (finished() closes the stream): ask for the newer step.
    if (state.previewAgain && state.events && state.job && state.job.id === job.id) refreshPreview(job);
  }
}

function finished(job) {
  if (state.events) { state.events.close(); state.events = null; }
  $("cancel").disabled = true;
  if (job.result) {
    const img = $("preview");
    img.src = `${job.result}?v=${job.version}`; img.hidden = false; img.dataset.step = job.step;
    Object.assign($("download"), { href: job.result, hidden: false });
  }
  loadGallery();
}

async function cancel() {
  if (!state.job) return;
  try { show(await api("DELETE", `/api/jobs/${state.job.id}`)); } catch (e) { say(e.message); }
}

// --- gallery ---------------------------------------------------------------------------------------
async function loadGallery() {
  const jobs = (await api("GET", "/api/jobs")).filter((j) => j.result);
  if (!jobs.length) return;
  $("gallery").replaceChildren(...jobs.map((j) => {
    const open = el("button", { type: "button", textContent: "open settings", className: "open" });
    open.addEventListener("click", () => reopen(j));
    const link = el("a", { href: j.result, textContent: "download", download: "" });
    const o = j.settings.options;
    return el("div", { className: "card", id: `card-${j.id}` },
      el("img", { src: j.result, alt: `painting ${j.id.slice(0, 8)}`, loading: "lazy" }),
      el("div", { className: "row" }, el("span", { textContent: `${j.state} · ${o.size} px · ${o.style_loss} · β ${o.style_weight ?? "its default"}` })),
      el("div", { className: "row" }, link, open));
  }));
}

function reopen(job) {
  const s = job.settings;
  const info = (id, name) => ({ id, name, thumbnail: `/api/uploads/${id}/thumbnail` });
  state.content = info(s.content, s.names[0]);
  state.styles = s.styles.map((id, i) => ({ info: info(id, s.names[i + 1]), weight: (s.options.style_blend_weights || [])[i] ?? 1 }));
  $("preset").value = s.preset || "";
  applyOptions(s.options);
  drawInputs();
  say("Settings of that painting loaded: change them and press Paint.", true);
}

// --- start -----------------------------------------------------------------------------------------
async function start() {
  state.info = await api("GET", "/api/presets");
  const { limits, defaults, presets } = state.info;
  $("size").max = limits.max_size; $("iterations").max = limits.max_iterations;
  for (const [name, p] of Object.entries(presets)) $("preset").append(el("option", { value: name, textContent: `${name}: ${p.description}` }));
  $("preset").addEventListener("change", () => applyOptions($("preset").value ? presets[$("preset").value].options : defaults));
  for (const id of Object.keys(sliders)) $(id).addEventListener("input", () => { delete exact[id]; showSlider(id); });
  $("style-loss").addEventListener("change", () => applyOptions({ style_weight: null }));
  applyOptions(defaults);
  dropZone($("content-drop"), $("content-file"), "content");
  dropZone($("style-drop"), $("style-file"), "style");
  $("paint").addEventListener("click", paint);
  $("cancel").addEventListener("click", cancel);
  await loadGallery();
  document.body.dataset.ready = "1";
}
start().catch((e) => say(e.message));
