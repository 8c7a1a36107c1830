// hoist's console script. Pages work without it; it adds copy buttons, filtering as you
// type and live progress. No inline handlers (the CSP forbids them): behaviour hangs off
// data- attributes.
"use strict";

(function () {
  // Copy buttons: <button class="copy" data-copy="text" hidden>. Shown only with script.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function setupCopy(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      var label = button.textContent;
      button.addEventListener("click", function () {
        copyText(button.dataset.copy).then(function () {
          button.textContent = "Copied";
          button.classList.add("done");
          var status = document.getElementById("copy-status");
          // Announce that, not what: a copied secret must not be read aloud.
          if (status) status.textContent = "Copied to the clipboard.";
          setTimeout(function () {
            button.textContent = label;
            button.classList.remove("done");
          }, 1500);
        }, function () {
          button.textContent = "Select and copy";
        });
      });
    });
  }

  // Filter a table's rows as you type: <input data-filter="tbody-id">.
  function setupFilters(root) {
    root.querySelectorAll("input[data-filter]").forEach(function (input) {
      var body = document.getElementById(input.dataset.filter);
      if (!body) return;
      var count = input.dataset.count ? document.getElementById(input.dataset.count) : null;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        var shown = 0;
        body.querySelectorAll("tr").forEach(function (row) {
          var hit = !q || row.textContent.toLowerCase().indexOf(q) !== -1;
          row.hidden = !hit;
          if (hit) shown++;
        });
        if (count) count.textContent = shown + " shown";
      });
    });
  }

  // A search form whose results refresh as you type: <form data-live="results-id">.
  // The server renders the same page; the part with that id is swapped in.
  function setupLiveSearch(root) {
    root.querySelectorAll("form[data-live]").forEach(function (form) {
      var target = form.dataset.live;
      var timer = null;
      var seq = 0;
      function refresh() {
        var params = new URLSearchParams(new FormData(form));
        params.delete("page");
        var url = form.getAttribute("action") + "?" + params.toString();
        var mine = ++seq;
        fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (html) {
            if (mine !== seq) return;
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById(target);
            var old = document.getElementById(target);
            if (fresh && old) {
              old.replaceWith(fresh);
              setupCopy(fresh);
              history.replaceState(null, "", url);
            }
          })
          .catch(function () { /* the submit button still works */ });
      }
      form.querySelectorAll("input[type=search], input[type=text], select").forEach(function (el) {
        el.addEventListener("input", function () {
          clearTimeout(timer);
          timer = setTimeout(refresh, 200);
        });
      });
    });
  }

  function setup() {
    setupCopy(document);
    setupFilters(document);
    setupLiveSearch(document);
    if (window.hoistProgress) window.hoistProgress(document);
  }

  // Parts of this script that come after this one (progress.js) define their hooks when
  // the whole file has run: start once it has. A deferred script runs before
  // DOMContentLoaded, so the listener is the usual path.
  if (document.readyState === "complete") {
    setTimeout(setup, 0);
  } else {
    document.addEventListener("DOMContentLoaded", setup);
  }
})();
