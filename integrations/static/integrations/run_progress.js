/* The run page while a run is active: poll its counters every second and move the bar in place; once the run has
   ended, reload the page for the final state (status, error, links). Without JavaScript the page reloads itself. */
(function () {
  "use strict";
  var panel = document.getElementById("ss-run");
  var url = panel && panel.getAttribute("data-progress-url");
  if (!url) { return; }
  var field = function (name) { return panel.querySelector('[data-run="' + name + '"]'); };
  var set = function (name, text) { var el = field(name); if (el) { el.textContent = text; } };
  var bar = panel.querySelector(".ss-bar");

  function render(p) {
    if (!p.active) { window.location.reload(); return; }
    set("percent", p.percent === null ? "—" : p.percent + " %");
    set("processed", p.total ? p.processed + " / " + p.total : String(p.processed));
    if (p.contacts) { set("contacts", p.contacts); }
    set("rate", p.rate);
    set("eta", p.eta);
    set("elapsed", p.elapsed);
    ["created", "updated", "skipped", "failed", "deleted"].forEach(function (k) { set(k, String(p[k])); });
    // The fields below the box (started, heartbeat, record history): rendered by the server, as on page load.
    Object.keys(p.fields || {}).forEach(function (name) {
      var cell = document.querySelector(".field-" + name + " .readonly");
      if (cell) { cell.innerHTML = p.fields[name]; }
    });
    var badge = field("status") && field("status").querySelector(".ss-badge");
    if (badge) { badge.textContent = p.status_label; badge.className = "ss-badge ss-" + p.tone; }
    if (bar && p.percent !== null) {
      bar.classList.remove("ss-bar-unknown");
      bar.setAttribute("aria-valuenow", p.percent);
      bar.querySelector(".ss-bar-fill").style.width = p.percent + "%";
    }
    if (p.cancel_requested) {
      var button = field("cancel");
      if (button) { button.disabled = true; button.textContent = "Stopping after this page…"; }
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (p) { render(p); if (p.active) { window.setTimeout(poll, 1000); } })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
