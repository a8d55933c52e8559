/* Chunked, resumable VHD upload (F4 scenario 3) for the page /uploads/new.
 *
 * Talks to the JSON endpoints of galleries/views.py:
 *   POST /uploads/      {resourceGroup, name, size}  -> {id, offset, size, state, ...}  (same name and size resumes)
 *   PUT  /uploads/<id>  one chunk, Content-Range: bytes START-END/TOTAL  -> the new state; 409 {offset} if START is not it
 *   GET  /uploads/<id>  where the upload stands
 *   DELETE /uploads/<id>
 * A failed chunk (network error, 5xx, 429) is retried with exponential backoff after asking the
 * server where the upload stands, so a dropped connection resumes from the server's offset. All the
 * rules (name, size, VHD format) are the server's: its messages are shown next to the file input.
 * When an upload completes, the page's list of VHDs (#blobs) is read again from the server and
 * replaced, so the new VHD and its "Create managed image" link are there without a reload, and the
 * top bar's notifications are asked again ("notif-refresh").
 */
(function () {
  "use strict";

  var form = document.getElementById("vhd-upload");
  if (!form) return;

  var fileInput = document.getElementById("vhd-file");
  var nameInput = document.getElementById("vhd-name");
  var button = document.getElementById("upload-button");
  var cancelButton = document.getElementById("upload-cancel");
  var errorBox = document.getElementById("upload-error");
  var progress = document.getElementById("upload-progress");
  var bar = progress.querySelector(".bar");
  var barFill = bar.querySelector("rect"); // an SVG bar: its width is an attribute (no inline style)
  var statusLine = document.getElementById("upload-status");
  var done = document.getElementById("upload-done");

  var startUrl = form.dataset.startUrl;
  var detailBase = form.dataset.detailUrl; // "/uploads/" + id
  var maxChunk = parseInt(form.dataset.maxChunkBytes, 10) || 4194304;
  var chunkBytes = Math.min(parseInt(form.dataset.chunkBytes, 10) || 4194304, maxChunk);
  var MAX_ATTEMPTS = 8; // consecutive failures before giving up (the user can then resume)
  var BASE_DELAY = 500; // ms, doubled per attempt
  var MAX_DELAY = 30000;

  var busy = false;
  var discardAsked = false;
  var current = null; // the upload's server state

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (e) { /* fall back to the cookie */ }
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function formatBytes(n) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
    fileInput.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function setProgress(offset, size, speed, note) {
    var percent = size ? Math.floor((offset * 100) / size) : 0;
    progress.hidden = false;
    barFill.setAttribute("width", String(percent));
    bar.setAttribute("aria-valuenow", String(percent));
    var text = percent + "% · " + formatBytes(offset) + " of " + formatBytes(size);
    if (speed) text += " · " + formatBytes(speed) + "/s";
    if (note) text += " · " + note;
    statusLine.textContent = text;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function backoff(attempt) {
    var delay = Math.min(MAX_DELAY, BASE_DELAY * Math.pow(2, attempt));
    return delay / 2 + Math.random() * delay / 2;
  }

  // One request; resolves to {status, data}; network failures resolve to {status: 0}.
  function call(method, url, body, headers) {
    var h = Object.assign({ "X-CSRFToken": csrfToken(), "Accept": "application/json" }, headers || {});
    return fetch(url, { method: method, body: body, headers: h, credentials: "same-origin" }).then(
      function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          return { status: response.status, data: data };
        });
      },
      function () { return { status: 0, data: null }; }
    );
  }

  function messageOf(result) {
    if (result.data && result.data.error && result.data.error.message) return result.data.error.message;
    if (result.status === 0) return "The connection to the server was lost.";
    return "The server answered " + result.status + ".";
  }

  function retryable(status) {
    return status === 0 || status === 429 || status >= 500;
  }

  function start(file, name) {
    var body = JSON.stringify({ resourceGroup: form.dataset.resourceGroup, name: name, size: file.size });
    return call("POST", startUrl, body, { "Content-Type": "application/json" });
  }

  async function upload(file, name) {
    var began = Date.now();
    var sentThisSession = 0;
    var attempt = 0;
    var result;

    // Start (or resume: the same name and size continue the unfinished upload).
    for (;;) {
      result = await start(file, name);
      if (result.status === 200 || result.status === 201) break;
      if (!retryable(result.status) || attempt >= MAX_ATTEMPTS) throw new Error(messageOf(result));
      var wait = backoff(attempt++);
      setProgress(0, file.size, 0, "cannot reach the server; retrying in " + Math.ceil(wait / 1000) + " s");
      await sleep(wait);
    }
    current = result.data;
    cancelButton.hidden = false;
    var offset = current.offset;
    setProgress(offset, file.size, 0, offset ? "resuming" : "");
    attempt = 0;

    while (current.state !== "Available") {
      if (discardAsked) throw new Error("");
      var end = Math.min(offset + chunkBytes, file.size);
      var chunk = file.slice(offset, end);
      result = await call("PUT", detailBase + current.id, chunk, {
        "Content-Type": "application/octet-stream",
        "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size,
      });
      if (result.status === 200) {
        sentThisSession += end - offset;
        current = result.data;
        offset = current.offset;
        attempt = 0;
        var seconds = (Date.now() - began) / 1000;
        setProgress(offset, file.size, seconds > 0 ? sentThisSession / seconds : 0, "");
        continue;
      }
      if (result.status === 409 && result.data && typeof result.data.offset === "number") {
        offset = result.data.offset; // the server stands elsewhere: continue from there
        continue;
      }
      if (!retryable(result.status)) throw new Error(messageOf(result));
      if (attempt >= MAX_ATTEMPTS) {
        var lost = new Error(messageOf(result) + " Upload paused at " + formatBytes(offset) + ".");
        lost.resumable = true;
        throw lost;
      }
      var delay = backoff(attempt++);
      setProgress(offset, file.size, 0,
        "connection problem; retrying in " + Math.ceil(delay / 1000) + " s (attempt " + attempt + " of " + MAX_ATTEMPTS + ")");
      await sleep(delay);
      // Ask where the upload stands before sending again: the failed chunk may have landed.
      var state = await call("GET", detailBase + current.id);
      if (state.status === 200 && state.data) {
        current = state.data;
        offset = current.offset;
      } else if (state.status === 404) {
        throw new Error(messageOf(state));
      }
    }
    return current;
  }

  // The list of VHDs as the server renders it now: this page's HTML, fetched again, its #blobs swapped in.
  function refreshList() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("blobs");
        var stale = document.getElementById("blobs");
        if (fresh && stale) stale.replaceWith(document.importNode(fresh, true));
      }, function () { /* the list stays as it was; the upload itself is done */ });
  }

  function finished(blob) {
    setProgress(blob.size, blob.size, 0, "SHA-256 " + blob.sha256);
    done.hidden = false;
    document.getElementById("upload-done-name").textContent = blob.name;
    document.getElementById("create-image").href = form.dataset.imageUrl + "&blob=" + blob.id;
    document.getElementById("create-snapshot").href = form.dataset.snapshotUrl + "&blob=" + blob.id;
    cancelButton.hidden = true;
    button.textContent = "Upload another";
    refreshList();
    if (window.htmx) window.htmx.trigger(document.body, "notif-refresh");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    var file = fileInput.files && fileInput.files[0];
    if (!file) { showError("Choose a VHD file first."); return; }
    var name = (nameInput.value || file.name).trim();
    showError("");
    done.hidden = true;
    busy = true;
    button.disabled = true;
    fileInput.disabled = true;
    upload(file, name).then(finished, function (err) {
      if (discardAsked) return;
      showError(err.message);
      if (err.resumable) button.textContent = "Resume upload";
    }).finally(function () {
      busy = false;
      button.disabled = false;
      fileInput.disabled = false;
      if (discardAsked) discard();
    });
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    if (file && !nameInput.value) nameInput.placeholder = file.name;
    button.textContent = "Upload";
    showError("");
  });

  function discard() {
    discardAsked = false;
    if (!current) return;
    call("DELETE", detailBase + current.id).then(function (result) {
      if (result.status === 204 || result.status === 404) {
        current = null;
        progress.hidden = true;
        cancelButton.hidden = true;
        button.textContent = "Upload";
        showError("");
      } else {
        showError(messageOf(result));
      }
    });
  }

  cancelButton.addEventListener("click", function () {
    if (!current) return;
    if (!window.confirm("Discard this upload and the bytes already sent?")) return;
    if (busy) { discardAsked = true; return; } // stops after the chunk in flight, then discards
    discard();
  });

  window.addEventListener("beforeunload", function (event) {
    if (busy) { event.preventDefault(); event.returnValue = ""; }
  });
})();
