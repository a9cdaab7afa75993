// The omniembed search page: text queries (GET) and dropped files (POST) against /search/api/query.
(function () {
  "use strict";
  const prefix = document.body.dataset.prefix || "/search";
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), q = $("q"), type = $("type"), results = $("results"), status = $("status");
  const drop = $("drop"), fileInput = $("file");

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  function timeFragment(h) {
    if (h.start_s == null) return "";
    return "#t=" + h.start_s.toFixed(2) + (h.end_s != null ? "," + h.end_s.toFixed(2) : "");
  }

  function preview(h) {
    const box = el("div", { class: "preview" });
    if (h.thumb_url) {
      box.append(el("a", { href: h.media_url, target: "_blank" },
        el("img", { src: h.thumb_url, alt: "preview of " + h.name, loading: "lazy" })));
    } else if (h.modality === "audio") {
      box.append(el("audio", { controls: "", preload: "metadata", src: h.media_url + timeFragment(h) }));
    } else if (h.modality === "video") {
      box.append(el("video", { controls: "", preload: "metadata", src: h.media_url + timeFragment(h) }));
    }
    return box;
  }

  function render(data, label) {
    results.textContent = "";
    status.textContent = data.hits.length + " results for " + label + " (" + data.took_ms + " ms)";
    data.hits.forEach((h, i) => {
      const title = el("div", { class: "title" },
        el("span", { class: "score" }, "score " + h.score.toFixed(3)),
        (i + 1) + ". ", el("a", { href: h.media_url, target: "_blank" }, h.rel_path),
        el("span", { class: "badge" }, h.modality),
        h.locator ? el("span", { class: "where" }, h.locator) : null);
      const body = el("div", { class: "body" }, title, el("p", { class: "snippet" }, h.snippet));
      results.append(el("li", { class: "hit", "data-modality": h.modality }, preview(h), body));
    });
  }

  function params() {
    const p = new URLSearchParams({ k: "10" });
    if (type.value) p.append("type", type.value);
    const mode = document.getElementById("mode");
    if (mode && mode.value) p.set("mode", mode.value);
    return p;
  }

  async function handle(resp, label) {
    const data = await resp.json();
    if (!resp.ok) {
      const msg = (data.error && data.error.message) || data.detail || resp.statusText;
      throw new Error(msg);
    }
    render(data, label);
  }

  async function searchText(text) {
    const p = params(); p.set("q", text);
    status.textContent = "searching…"; status.className = "muted";
    try { await handle(await fetch(prefix + "/api/query?" + p), "“" + text + "”"); }
    catch (err) { status.textContent = "error: " + err.message; status.className = "error"; }
    history.replaceState(null, "", "?" + new URLSearchParams({ q: text }));
  }

  async function searchFile(file) {
    const fd = new FormData(); fd.append("file", file);
    status.textContent = "reading " + file.name + "…"; status.className = "muted";
    try { await handle(await fetch(prefix + "/api/query?" + params(), { method: "POST", body: fd }), file.name); }
    catch (err) { status.textContent = "error: " + err.message; status.className = "error"; }
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); if (q.value.trim()) searchText(q.value.trim()); });
  type.addEventListener("change", () => { if (q.value.trim()) searchText(q.value.trim()); });
  fileInput.addEventListener("change", () => { if (fileInput.files[0]) searchFile(fileInput.files[0]); });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (ev) => { const f = ev.dataTransfer.files[0]; if (f) searchFile(f); });

  fetch(prefix + "/api/info").then((r) => r.json()).then((d) => {
    $("info").textContent = d.files + " files indexed · " + d.profile + " · " + d.dimensions + "-d · " + d.backend;
  }).catch(() => { $("info").textContent = "index not available"; });

  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { q.value = initial; searchText(initial); }
})();
