// Upload queue island for the batch page: chunked, resumable, three files at a time.
//
// The protocol (docs/uploads.md): POST the file's {filename, size, fingerprint} to start it or to
// find it again (the answer says how many bytes the server has), then PATCH chunks at that offset
// until the server has them all. The fingerprint (name, size, modification time) is what makes
// "choose the same files again" resume unfinished files and skip finished ones, even after the
// tab was closed. Without this script the page's plain form uploads the files whole.
(function () {
  "use strict";

  const root = document.getElementById("uploader");
  if (!root || !window.fetch || !window.Blob) { return; }

  const PARALLEL = 3;
  // Backoff between attempts of one request, about two and a half minutes in all (tests may shorten it).
  const RETRY_DELAYS = window.pixstockRetryDelays || [1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000];
  const STALL_MS = 60000; // a chunk with no progress for this long is abandoned and sent again
  const FINAL = new Set(["processing", "ready", "failed", "duplicate", "rejected"]);

  const chunkSize = Number(root.dataset.chunkSize) || 5 * 1024 * 1024;
  const createUrl = root.dataset.createUrl;
  const uploadUrl = (id) => root.dataset.uploadUrl.replace("UPLOAD_ID", encodeURIComponent(id));
  const labels = JSON.parse(root.dataset.labels);
  const messages = JSON.parse(root.dataset.messages);
  const csrf = (JSON.parse(document.body.getAttribute("hx-headers") || "{}"))["X-CSRFToken"];
  const list = root.querySelector("[data-files]");
  const template = root.querySelector("[data-row-template]");
  const input = root.querySelector("[data-file-input]");
  const dropzone = root.querySelector("[data-dropzone]");
  const overall = root.querySelector("[data-overall]");

  root.querySelectorAll("[data-without-js]").forEach((el) => { el.hidden = true; });

  const rows = new Map(); // fingerprint -> row (from the server's list, then ours)
  list.querySelectorAll("li.file").forEach((row) => rows.set(row.dataset.fingerprint, row));
  const tasks = []; // {file, fingerprint, row, offset, sent, state: queued|active|done|error}
  let active = 0;
  let skipped = 0;

  // --- rows ----------------------------------------------------------------------------------------

  function rowFor(file, fingerprint) {
    let row = rows.get(fingerprint);
    if (!row) {
      row = template.content.firstElementChild.cloneNode(true);
      row.dataset.fingerprint = fingerprint;
      row.dataset.size = file.size;
      row.querySelector("[data-name]").textContent = file.name;
      rows.set(fingerprint, row);
      list.appendChild(row);
      const empty = root.querySelector("[data-empty]");
      if (empty) { empty.remove(); }
    }
    return row;
  }

  function show(row, status, detail) {
    row.dataset.status = status;
    row.className = "file file-" + status;
    const size = Number(row.dataset.size) || 0;
    const offset = Number(row.dataset.offset) || 0;
    const percent = size ? Math.floor((offset / size) * 100) : 0;
    let text = labels[status] || status;
    if (status === "uploading" || (status === "queued" && offset > 0)) { text += " · " + percent + "%"; }
    row.querySelector("[data-label]").textContent = text;
    const bar = row.querySelector("[data-progress]");
    bar.hidden = !(status === "uploading" || status === "queued" || status === "error");
    bar.value = percent;
    if (detail !== undefined) { row.querySelector("[data-reason]").textContent = detail || ""; }
    countRows();
  }

  // While a chunk is in flight: the file's own percentage from the bytes the browser has sent.
  function drawTask(task) {
    const percent = Math.floor((Math.min(task.sent, task.file.size) / task.file.size) * 100);
    task.row.querySelector("[data-label]").textContent = labels.uploading + " · " + percent + "%";
    task.row.querySelector("[data-progress]").value = percent;
  }

  // Show the server's view of an upload (the JSON of pixstock.uploads.upload_state).
  function applyState(row, state) {
    if (state.id) { row.dataset.uploadId = state.id; }
    if (typeof state.offset === "number") { row.dataset.offset = state.offset; }
    if (typeof state.size === "number") { row.dataset.size = state.size; }
    if (state.photo_id) { row.dataset.photoId = state.photo_id; }
    if (state.thumb_url) { setThumb(row, state.thumb_url); }
    const reason = state.reason || (state.photo_id ? "#" + state.photo_id : "");
    show(row, state.status, reason);
  }

  function setThumb(row, url) {
    const holder = row.querySelector(".thumb");
    let img = holder.querySelector("img");
    if (!img) {
      img = document.createElement("img");
      img.alt = ""; img.width = 48; img.height = 48;
      holder.appendChild(img);
    }
    if (img.getAttribute("src") !== url) { img.src = url; }
  }

  function countRows() {
    const counts = { total: 0, ready: 0, processing: 0, uploading: 0, failed: 0, duplicate: 0, rejected: 0 };
    list.querySelectorAll("li.file").forEach((row) => {
      const status = row.dataset.status;
      counts.total += 1;
      if (status in counts) { counts[status] += 1; } else { counts.uploading += 1; } // queued, error
    });
    Object.keys(counts).forEach((key) => {
      const cell = root.querySelector('[data-count="' + key + '"]');
      if (cell) { cell.textContent = counts[key]; }
    });
  }

  // --- the queue -----------------------------------------------------------------------------------

  function fingerprintOf(file) { return [file.name, file.size, file.lastModified].join(":"); }

  function addFiles(files) {
    Array.from(files).forEach((file) => {
      const fingerprint = fingerprintOf(file);
      const existing = tasks.find((t) => t.fingerprint === fingerprint);
      if (existing && existing.state !== "error") { return; }
      const row = rowFor(file, fingerprint);
      if (FINAL.has(row.dataset.status)) { skipped += 1; return; } // finished before: never twice
      if (existing) { existing.file = file; existing.state = "queued"; show(row, "queued", ""); return; }
      const offset = Number(row.dataset.offset) || 0;
      tasks.push({ file: file, fingerprint: fingerprint, row: row, offset: offset, sent: offset, state: "queued" });
      show(row, "queued", "");
    });
    startClock();
    pump();
  }

  function pump() {
    while (active < PARALLEL) {
      const task = tasks.find((t) => t.state === "queued");
      if (!task) { break; }
      task.state = "active";
      active += 1;
      run(task).finally(() => { active -= 1; pump(); });
    }
    drawOverall();
  }

  async function run(task) {
    try {
      let state = await withRetries(() => createUpload(task));
      applyState(task.row, state);
      while (state.status === "uploading") {
        task.offset = task.sent = state.offset;
        show(task.row, "uploading");
        state = await withRetries(() => sendChunk(task, state));
        applyState(task.row, state);
      }
      task.sent = task.file.size;
      task.state = "done";
    } catch (error) {
      if (error.state) { // the server decided (e.g. too large): final
        applyState(task.row, error.state);
        task.sent = task.file.size;
        task.state = "done";
      } else {
        task.state = "error";
        show(task.row, "error", error.message || messages.network);
      }
    }
  }

  // Retry network failures and server errors with backoff; a refusal (4xx) is final.
  async function withRetries(attempt) {
    for (let i = 0; ; i += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!error.retry || i >= RETRY_DELAYS.length) { throw error; }
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS[i]));
      }
    }
  }

  async function createUpload(task) {
    const body = JSON.stringify({ filename: task.file.name, size: task.file.size, fingerprint: task.fingerprint });
    const reply = await request("POST", createUrl, body, { "Content-Type": "application/json" });
    return reply.state;
  }

  async function sendChunk(task, state) {
    const start = state.offset;
    const end = Math.min(start + chunkSize, task.file.size);
    const reply = await request("PATCH", uploadUrl(state.id), task.file.slice(start, end), {
      "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream",
    }, (loaded) => { task.sent = start + loaded; drawTask(task); drawOverall(); });
    return reply.state;
  }

  // One XHR (fetch cannot report upload progress). Resolves {state} with the upload's JSON: on
  // success, and on a 409, whose body says where the server stands, so the loop continues there.
  function request(method, url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      let stallTimer = null;
      const stall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => xhr.abort(), STALL_MS);
      };
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers).forEach((name) => xhr.setRequestHeader(name, headers[name]));
      xhr.upload.onprogress = (event) => { stall(); if (onProgress) { onProgress(event.loaded); } };
      xhr.onload = () => {
        clearTimeout(stallTimer);
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (ignored) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300 && data) { resolve({ state: data }); return; }
        if (xhr.status === 409 && data && data.upload) { resolve({ state: data.upload }); return; }
        const message = data && data.error ? data.error.message : xhr.statusText;
        const error = new Error(message);
        if (xhr.status >= 500 || xhr.status === 0 || xhr.status === 408 || xhr.status === 429) {
          error.retry = true;
        } else if (data && data.upload) {
          error.state = data.upload;
        }
        reject(error);
      };
      xhr.onerror = xhr.onabort = () => {
        clearTimeout(stallTimer);
        const error = new Error(messages.network);
        error.retry = true;
        reject(error);
      };
      stall();
      xhr.send(body);
    });
  }

  // --- overall progress, speed and time left -------------------------------------------------------

  let clock = null;
  let lastBytes = 0;
  let speed = 0; // bytes per second, smoothed

  function startClock() {
    if (clock) { return; }
    lastBytes = sentBytes();
    clock = setInterval(() => {
      const now = sentBytes();
      const instant = Math.max(0, now - lastBytes);
      lastBytes = now;
      speed = speed ? speed * 0.8 + instant * 0.2 : instant;
      drawOverall();
      if (!tasks.some((t) => t.state === "queued" || t.state === "active")) {
        clearInterval(clock); clock = null; speed = 0; drawOverall();
      }
    }, 1000);
  }

  function sentBytes() { return tasks.reduce((sum, t) => sum + Math.min(t.sent, t.file.size), 0); }

  function drawOverall() {
    if (!tasks.length && !skipped) { return; }
    overall.hidden = false;
    const total = tasks.reduce((sum, t) => sum + t.file.size, 0);
    const sent = sentBytes();
    const done = tasks.filter((t) => t.state === "done").length;
    overall.querySelector("[data-overall-progress]").value = total ? Math.floor((sent / total) * 100) : 100;
    const parts = [fill(messages.progress, { done: done, total: tasks.length }),
      megabytes(sent) + " / " + megabytes(total) + " MB"];
    const running = tasks.some((t) => t.state === "queued" || t.state === "active");
    if (running && speed > 0) {
      parts.push(megabytes(speed) + " MB/s");
      parts.push(fill(messages.time_left, { time: duration((total - sent) / speed) }));
    }
    if (skipped) { parts.push(fill(messages.skipped, { num: skipped })); }
    overall.querySelector("[data-overall-text]").textContent = parts.join(" · ");
  }

  // Messages come translated from the page with {name} placeholders.
  function fill(message, values) { return message.replace(/\{(\w+)\}/g, (match, name) => values[name]); }

  function megabytes(bytes) { return (bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1); }

  function duration(seconds) {
    if (!isFinite(seconds)) { return "…"; }
    seconds = Math.ceil(seconds);
    if (seconds < 90) { return seconds + " s"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min"; }
    return (seconds / 3600).toFixed(1) + " h";
  }

  // --- live processing (events from progress.js) ---------------------------------------------------

  const STATUS_OF_PHOTO = { received: "processing", processing: "processing", ready: "ready", failed: "failed" };

  root.addEventListener("pixstock:photo-status", (event) => {
    const data = event.detail;
    const row = list.querySelector('li.file[data-upload-id="' + data.upload_id + '"]');
    if (!row) { return; }
    if (data.thumb_url) { setThumb(row, data.thumb_url); }
    show(row, STATUS_OF_PHOTO[data.status] || data.status,
      data.failure_reason || (data.photo_id ? "#" + data.photo_id : ""));
  });

  root.addEventListener("pixstock:upload-state", (event) => {
    const state = event.detail;
    const row = list.querySelector('li.file[data-upload-id="' + state.id + '"]');
    if (row && state.status !== "uploading") { applyState(row, state); }
  });

  root.addEventListener("pixstock:watch", (event) => {
    list.querySelectorAll('li.file[data-status="processing"]').forEach((row) => {
      if (row.dataset.uploadId) { event.detail.ids.push(row.dataset.uploadId); }
    });
  });

  // --- controls ------------------------------------------------------------------------------------

  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  dropzone.addEventListener("submit", (event) => { event.preventDefault(); addFiles(input.files); });
  ["dragenter", "dragover"].forEach((name) => dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => dropzone.addEventListener(name, () => dropzone.classList.remove("dragging")));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) { addFiles(event.dataTransfer.files); }
  });

  // "Retry failed": uploads that broke off go again from where the server stands, and photos whose
  // processing failed are queued again on the server.
  root.querySelector("[data-retry-form]").addEventListener("submit", async (event) => {
    event.preventDefault();
    tasks.filter((t) => t.state === "error").forEach((t) => { t.state = "queued"; show(t.row, "queued", ""); });
    startClock();
    pump();
    if (list.querySelector('li.file[data-status="failed"]')) {
      try {
        const reply = await request("POST", root.dataset.retryUrl, null, {});
        (reply.state.retried || []).forEach((photoId) => {
          const row = list.querySelector('li.file[data-photo-id="' + photoId + '"]');
          if (row) { show(row, "processing", "#" + photoId); }
        });
      } catch (ignored) { /* the button can be pressed again */ }
    }
  });

  window.addEventListener("beforeunload", (event) => {
    if (tasks.some((t) => t.state === "queued" || t.state === "active")) {
      event.preventDefault();
      event.returnValue = messages.leave;
    }
  });

  countRows();
  // Files chosen before this script ran (a quick hand, or the browser restoring the form) go up too.
  if (input.files.length) { addFiles(input.files); input.value = ""; }
  root.dataset.ready = "1";
})();
