// Live sync progress on a run's page (templates/mirrors/run.html): server-sent events from
// /api/v1/sync/events?run=<id> (the session cookie signs the request in) update the state,
// the summary, each tag's row and each blob's <progress>. When the stream (re)opens, the
// run's kept events since the page was drawn are fetched, so nothing between the render
// and the subscription is missed. Without script the page offers a refresh link instead.
"use strict";

(function () {
  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  // The same text as admin/format.rs's bytes().
  function bytes(n) {
    if (n < 1024) return n + " B";
    var v = n, u = 0;
    while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
    var text = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
    return text + " " + UNITS[u];
  }

  function shortDigest(d) {
    var i = d.indexOf(":");
    return i < 0 ? d.slice(0, 19) : d.slice(0, i + 1) + d.slice(i + 1, i + 13);
  }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function findRow(body, key) {
    var rows = body.querySelectorAll("tr");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.key === key) return rows[i];
    }
    return null;
  }

  function show(id) {
    var e = document.getElementById(id);
    if (e) e.hidden = false;
  }

  function hide(id) {
    var e = document.getElementById(id);
    if (e) e.hidden = true;
  }

  var OUTCOME_CLASS = { "new": "badge ok", updated: "badge ok", unchanged: "badge",
    failed: "badge bad", removed: "badge" };
  var STATE_CLASS = { succeeded: "badge ok", failed: "badge bad", queued: "badge", running: "badge" };

  function Run(root) {
    this.root = root;
    this.id = root.dataset.run;
    this.after = parseInt(root.dataset.after || "0", 10) || 0;
    this.source = null;
    this.finished = root.dataset.active !== "1";
  }

  Run.prototype.state = function (state, summary, error) {
    var badge = document.getElementById("run-state");
    if (badge) {
      badge.textContent = state;
      badge.className = STATE_CLASS[state] || "badge";
    }
    if (summary) {
      Object.keys(summary).forEach(function (field) {
        var cell = document.querySelector('[data-summary="' + field + '"]');
        if (!cell) return;
        var v = summary[field];
        cell.textContent = field === "bytes_fetched" ? bytes(v) : String(v);
      });
    }
    var err = document.getElementById("run-error");
    if (err && error) {
      err.textContent = error;
      err.hidden = false;
    }
    if (state === "succeeded" || state === "failed") {
      this.finish();
    }
  };

  Run.prototype.finish = function () {
    this.finished = true;
    if (this.source) this.source.close();
    var refresh = document.getElementById("run-refresh");
    if (refresh) refresh.hidden = true;
    var live = document.getElementById("run-live");
    if (live) live.textContent = "";
    // Blobs still drawn as in flight are done or abandoned with the run.
    document.querySelectorAll("#blob-rows tr:not(.finished) progress").forEach(function (p) {
      if (!p.hasAttribute("max")) p.setAttribute("max", "1");
      p.value = p.max;
    });
    var finished = document.getElementById("run-finished");
    if (finished && finished.querySelector(".muted")) finished.textContent = "just now";
  };

  Run.prototype.tag = function (e) {
    var body = document.getElementById("tag-rows");
    if (!body) return;
    var key = e.repository + ":" + e.tag;
    var row = findRow(body, key);
    var fresh = el("tr");
    fresh.dataset.key = key;
    fresh.appendChild(el("td", "", e.repository));
    var tagCell = el("td");
    var link = el("a", "", e.tag);
    link.href = "/repositories/" + e.repository + "/-/tags/" + e.tag;
    tagCell.appendChild(link);
    fresh.appendChild(tagCell);
    var outcome = el("td");
    outcome.appendChild(el("span", OUTCOME_CLASS[e.outcome] || "badge", e.outcome));
    if (e.error) outcome.appendChild(el("p", "error-text", e.error));
    fresh.appendChild(outcome);
    var digestCell = el("td");
    var code = el("code", "", e.digest ? shortDigest(e.digest) : "");
    if (e.digest) code.title = e.digest;
    digestCell.appendChild(code);
    fresh.appendChild(digestCell);
    if (row) row.replaceWith(fresh); else body.appendChild(fresh);
    show("tag-table");
    hide("tags-empty");
  };

  Run.prototype.blob = function (e) {
    var body = document.getElementById("blob-rows");
    if (!body) return;
    var key = e.repository + "@" + e.digest;
    var row = findRow(body, key);
    if (row && row.classList.contains("finished") && !e.finished) return;
    if (!row) {
      row = el("tr");
      row.dataset.key = key;
      var digestCell = el("td");
      var code = el("code", "", shortDigest(e.digest));
      code.title = e.digest;
      digestCell.appendChild(code);
      row.appendChild(digestCell);
      row.appendChild(el("td", "", e.repository));
      var cell = el("td", "blob-progress");
      cell.appendChild(el("progress"));
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(el("span", "blob-text"));
      row.appendChild(cell);
      body.appendChild(row);
      show("blob-table");
      hide("blobs-empty");
    }
    var progress = row.querySelector("progress");
    var text = row.querySelector(".blob-text");
    var words;
    if (e.finished) {
      row.classList.add("finished");
      progress.setAttribute("max", String(Math.max(e.done, 1)));
      progress.value = Math.max(e.done, 1);
      words = bytes(e.done) + " fetched";
    } else if (e.total) {
      progress.setAttribute("max", String(e.total));
      progress.value = e.done;
      words = bytes(e.done) + " of " + bytes(e.total);
    } else {
      words = bytes(e.done) + " so far";
    }
    text.textContent = words;
    progress.setAttribute("aria-label", shortDigest(e.digest) + ": " + words);
  };

  Run.prototype.note = function (e) {
    var list = document.getElementById("notes");
    if (!list) return;
    // A note can come twice: live and in the catch-up after the stream opens.
    var items = list.querySelectorAll("li");
    for (var i = 0; i < items.length; i++) {
      if (items[i].textContent === e.text) return;
    }
    list.appendChild(el("li", "", e.text));
    hide("notes-empty");
  };

  Run.prototype.apply = function (e) {
    switch (e.type) {
      case "run": this.state(e.state, e.summary, e.error); break;
      case "tag": this.tag(e); break;
      case "blob": this.blob(e); break;
      case "note": this.note(e); break;
    }
  };

  // The run and its kept events after the last one shown: what happened while the stream
  // was not open.
  Run.prototype.catchUp = function () {
    var self = this;
    var url = "/api/v1/sync/runs/" + encodeURIComponent(this.id) + "?after=" + this.after;
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        (body.events || []).forEach(function (e) {
          if (e.seq > self.after) self.after = e.seq;
          if (e.type !== "run") self.apply(e);
        });
        var run = body.run || {};
        if (run.state) self.state(run.state, run.summary, run.error);
      })
      .catch(function () { /* the refresh link still works */ });
  };

  Run.prototype.start = function () {
    var self = this;
    if (this.finished || !window.EventSource) return;
    var source = new EventSource("/api/v1/sync/events?run=" + encodeURIComponent(this.id));
    this.source = source;
    source.addEventListener("open", function () { self.catchUp(); });
    ["run", "tag", "blob", "note"].forEach(function (type) {
      source.addEventListener(type, function (msg) {
        var e;
        try { e = JSON.parse(msg.data); } catch (err) { return; }
        self.apply(e);
      });
    });
    source.addEventListener("lagged", function () { self.catchUp(); });
  };

  window.hoistProgress = function (doc) {
    var root = doc.getElementById("run");
    if (!root || !root.dataset.run || root.dataset.following) return;
    root.dataset.following = "1";
    new Run(root).start();
  };

  // hoist.js's set-up calls this once the page is parsed; the guard above makes it once.
})();
