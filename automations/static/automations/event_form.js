// The automation form's event list: choosing an event reloads the page with it (the trigger's parameters and the
// condition builder's fields follow it), and sample items are read from the account once a connection is chosen.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function showSample(panel) {
    var select = $("id_event");
    var box = $("ss-event-sample");
    if (!select || !box || !select.value) { if (box) box.hidden = true; return; }
    var query = new URLSearchParams({ event: select.value });
    ["ghl_connection", "streettext_connection"].forEach(function (name) {
      var input = $("id_" + name);
      if (input && input.value) query.set(name, input.value);
    });
    panel.querySelectorAll("[name^='tp-']").forEach(function (input) {
      if (input.value) query.set(input.name, input.value);
    });
    var note = $("ss-event-sample-note");
    var body = box.querySelector("tbody");
    box.hidden = false;
    note.textContent = "Reading the account…";
    body.textContent = "";
    fetch(panel.dataset.sampleUrl + "?" + query.toString(), { credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (data) {
        if (!data.ok) { note.textContent = data.error || "No sample."; return; }
        note.textContent = data.items.length
          ? data.items.length + " recent item(s) of “" + data.event + "”. Their fields: " + data.fields.join(", ")
          : "The account has no item for this event yet. Its fields: " + data.fields.join(", ");
        data.items.forEach(function (item) {
          var row = document.createElement("tr");
          row.className = "ss-sample-item";
          var name = document.createElement("td");
          name.textContent = (item.label || item.id) + (item.label ? " (" + item.id + ")" : "");
          var fields = document.createElement("td");
          fields.className = "ss-small";
          fields.textContent = Object.keys(item.fields).map(function (key) {
            var value = item.fields[key];
            return key + ": " + (typeof value === "object" ? JSON.stringify(value) : value);
          }).join(" · ");
          row.appendChild(name);
          row.appendChild(fields);
          body.appendChild(row);
        });
      })
      .catch(function () { note.textContent = "The sample could not be read."; });
  }

  function start() {
    var panel = $("ss-event-panel");
    var select = $("id_event");
    if (!panel || !select) return;
    select.addEventListener("change", function () {
      // Reload with the event (and what was typed at the top), so the form is built for it.
      var query = new URLSearchParams(window.location.search);
      query.set("event", select.value);
      ["name", "ghl_connection", "streettext_connection"].forEach(function (name) {
        var input = $("id_" + name);
        if (input && input.value && window.location.pathname.endsWith("/add/")) query.set(name, input.value);
      });
      window.location.search = query.toString();
    });
    ["id_ghl_connection", "id_streettext_connection"].forEach(function (id) {
      var input = $(id);
      if (input) input.addEventListener("change", function () { showSample(panel); });
    });
    showSample(panel);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
