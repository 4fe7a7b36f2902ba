// Pickers on a catalog operation's form (templates/admin/catalog/operation.html): a field whose values a list
// operation can supply gets a list beside its text input. The list is fetched from the admin's picker endpoint for
// the chosen connection; if that fails or takes too long, the text input stays as it is (type the id).
(function () {
  "use strict";
  var TIMEOUT_MS = 8000;
  var form = document.getElementById("ss-op-form");
  if (!form || form.dataset.pickers !== "on") {
    return;
  }
  // The connection select: the operation form's own, or the page's named by data-connection-field (an automation's
  // trigger parameters sit in its form, whose GoHighLevel connection is "ghl_connection").
  var connectionName = form.dataset.connectionField || "connection";
  var connection = form.querySelector("[name=" + connectionName + "]") ||
    document.querySelector("[name=" + connectionName + "]");
  if (!connection) {
    return;
  }
  var fields = Array.prototype.slice.call(form.querySelectorAll("[data-picker]"));

  function pickerUrl(field, search) {
    var url = form.dataset.pickerUrl.replace("PICKER", encodeURIComponent(field.dataset.picker));
    var query = "?connection=" + encodeURIComponent(connection.value);
    if (search) {
      query += "&search=" + encodeURIComponent(search);
    }
    return url + query;
  }

  function apply(field, value) {
    var mode = field.dataset.pickerMode;
    if (mode === "append-line") {
      var lines = field.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean);
      if (lines.indexOf(value) < 0) {
        lines.push(value);
      }
      field.value = lines.join("\n");
    } else if (mode === "append-json") {
      var items = [];
      try {
        items = field.value.trim() ? JSON.parse(field.value) : [];
      } catch (e) {
        items = null;
      }
      if (!Array.isArray(items)) {
        return; // not a JSON list: leave what the person typed alone
      }
      items.push({ id: value, field_value: "" });
      field.value = JSON.stringify(items, null, 2);
    } else {
      field.value = value;
    }
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function load(picker) {
    var field = picker.field;
    if (!connection.value) {
      return;
    }
    if (picker.controller) {
      picker.controller.abort();
    }
    var controller = new AbortController();
    picker.controller = controller;
    var timer = window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    picker.status.textContent = "Loading…";
    picker.select.disabled = true;
    fetch(pickerUrl(field, picker.search ? picker.search.value.trim() : ""), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller.signal,
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        picker.select.innerHTML = "";
        var first = document.createElement("option");
        first.value = "";
        first.textContent = data.options.length ? "Pick from " + data.label.toLowerCase() + "…" : "Nothing to pick";
        picker.select.appendChild(first);
        data.options.forEach(function (option) {
          var element = document.createElement("option");
          element.value = option.value;
          element.textContent = option.text === option.value ? option.value : option.text + " (" + option.value + ")";
          picker.select.appendChild(element);
        });
        picker.select.disabled = !data.options.length;
        picker.status.textContent = data.error || "";
        if (data.searchable && !picker.search) {
          addSearch(picker);
        }
      })
      .catch(function () {
        picker.select.innerHTML = "";
        picker.select.disabled = true;
        picker.status.textContent = "The list is not available: type the id.";
      })
      .finally(function () {
        window.clearTimeout(timer);
      });
  }

  function addSearch(picker) {
    var search = document.createElement("input");
    search.type = "search";
    search.placeholder = "Find by name or email";
    search.setAttribute("aria-label", "Find in the list for " + picker.field.name.split("__").pop());
    search.size = 18;
    var pending = null;
    search.addEventListener("input", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () { load(picker); }, 350);
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter searches the list; it does not run the operation
        load(picker);
      }
    });
    picker.search = search;
    picker.wrap.insertBefore(search, picker.select);
  }

  var pickers = fields.map(function (field) {
    var wrap = document.createElement("span");
    wrap.className = "ss-picker";
    var select = document.createElement("select");
    select.className = "ss-picker-select";
    select.dataset.pickerFor = field.name;
    select.setAttribute("aria-label", "Pick " + field.name.split("__").pop() + " from a list");
    var status = document.createElement("span");
    status.className = "ss-picker-status ss-small";
    status.setAttribute("role", "status");
    wrap.appendChild(select);
    wrap.appendChild(status);
    field.insertAdjacentElement("afterend", wrap);
    var picker = { field: field, wrap: wrap, select: select, status: status, search: null, controller: null };
    select.addEventListener("change", function () {
      if (select.value) {
        apply(field, select.value);
      }
    });
    return picker;
  });

  pickers.forEach(load);
  connection.addEventListener("change", function () { pickers.forEach(load); });
})();
