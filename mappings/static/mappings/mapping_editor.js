/* The mapping page's pickers (see mappings/widgets.py). Every picker writes the value the server already reads:
   a field name into its text box, the transform steps as JSON, a condition or rule list as JSON. The server checks
   everything again; without this script the plain boxes are there and work. */
(function () {
  "use strict";
  var catalogNode = document.getElementById("ss-mapping-catalog");
  if (!catalogNode) return;
  var C = JSON.parse(catalogNode.textContent);
  var OTHER = "__other__";
  var rebuilders = [];

  // -- small helpers ---------------------------------------------------------------------------------------------
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function byId(id) { return document.getElementById(id); }
  function value(id, fallback) { var n = byId(id); return n && n.value ? n.value : fallback; }
  function objectType() { return value("id_object_type", "contact"); }
  function mappingDirection() { return value("id_direction", "to_streettext"); }
  function enrich() { return value("id_mode", "sync") === "enrich"; }
  function legs() { var d = mappingDirection(); return d === "both" ? ["to_streettext", "to_ghl"] : [d]; }
  function readSystems() {
    if (C.readSystems) return C.readSystems;  // pages with fixed sides (automations: the trigger item)
    var seen = [];
    legs().forEach(function (d) {
      var s = enrich() ? C.directions[d].target : C.directions[d].source;
      if (seen.indexOf(s) < 0) seen.push(s);
    });
    return seen;
  }
  function fire(node) { node.dispatchEvent(new Event("change", { bubbles: true })); }
  function clone(data) { return JSON.parse(JSON.stringify(data)); }

  // -- the lists ---------------------------------------------------------------------------------------------------
  function groups(system, writableOnly) {
    var type = C.objectTypes[objectType()] || C.objectTypes.contact;
    var label = C.systems[system];
    var standard = (type[system] || []).filter(function (f) { return !writableOnly || f.writable; });
    var result = [{ label: label + " fields", options: standard.map(function (f) { return { value: f.value, label: f.label }; }) }];
    if (type.custom) {
      var custom = C.custom[system] || { fields: [] };
      result.push({
        label: label + " custom fields",
        options: custom.fields.map(function (f) { return { value: f.value, label: f.label, custom: true }; }),
      });
    }
    return result;
  }
  function driftLabel(name) {
    var drift = C.drift[name];
    if (!drift) return "";
    if (drift.state === "deleted") return (drift.was ? drift.was + " " : name + " ") + "(deleted in GoHighLevel)";
    return drift.now + " (was " + drift.was + ")";
  }
  function labelOf(system, name) {
    var found = "";
    groups(system, false).forEach(function (g) {
      g.options.forEach(function (o) { if (o.value === name) found = o.label; });
    });
    return found || driftLabel(name) || name;
  }

  // -- a field picker in place of a text box -----------------------------------------------------------------------
  function fieldPicker(input, systemsOf, options) {
    options = options || {};
    var select = h("select", { className: "ss-picker", "aria-label": input.getAttribute("aria-label") || "Field" });
    input.parentNode.insertBefore(select, input);
    input.classList.add("ss-other-input");
    function rebuild() {
      var systems = systemsOf();
      if (!systems.length) { select.hidden = true; input.hidden = false; return; }
      select.hidden = false;
      var current = input.value.trim();
      select.textContent = "";
      select.appendChild(h("option", { value: "", text: options.empty || "— choose a field —" }));
      var known = {};
      systems.forEach(function (system) {
        groups(system, options.writableOnly).forEach(function (g) {
          if (!g.options.length) return;
          var group = h("optgroup", { label: systems.length > 1 || g.options[0].custom ? g.label : g.label });
          g.options.forEach(function (o) {
            known[o.value] = true;
            var text = C.drift[o.value] && C.drift[o.value].state === "renamed" ? driftLabel(o.value) : o.label;
            group.appendChild(h("option", { value: o.value, text: text }));
          });
          select.appendChild(group);
        });
      });
      if (current && !known[current]) {
        // A stored value the lists do not have: a deleted custom field, or a name typed earlier.
        var missing = driftLabel(current) || current + " (not in the lists)";
        select.appendChild(h("optgroup", { label: "Not in the lists" }, h("option", { value: current, text: missing })));
        known[current] = true;
      }
      select.appendChild(h("optgroup", { label: "Other" }, h("option", { value: OTHER, text: options.otherText || "Other: type a name…" })));
      select.value = current;
      input.hidden = true;
    }
    select.addEventListener("change", function () {
      if (select.value === OTHER) {
        input.hidden = false;
        input.value = "";
        input.focus();
      } else {
        input.hidden = true;
        input.value = select.value;
      }
      fire(input);
    });
    rebuild();
    rebuilders.push(rebuild);
    return { rebuild: rebuild, select: select };
  }

  // -- the source of a field mapping: a field, a constant, a template or the whole record --------------------------
  function sourceControl(input, kindSelect, systemOf) {
    var picker = fieldPicker(input, function () { return kindSelect.value === "field" ? [systemOf()] : []; });
    var insert = h("select", { className: "ss-insert", "aria-label": "Insert a field" });
    var note = h("span", { className: "ss-small ss-record-note", text: "the whole record (for score and rule tags)" });
    input.parentNode.appendChild(insert);
    input.parentNode.appendChild(note);
    insert.addEventListener("change", function () {
      if (!insert.value) return;
      var at = input.selectionStart != null ? input.selectionStart : input.value.length;
      input.value = input.value.slice(0, at) + "{" + insert.value + "}" + input.value.slice(at);
      insert.value = "";
      fire(input);
    });
    function rebuild() {
      var kind = kindSelect.value;
      insert.hidden = kind !== "template";
      note.hidden = kind !== "record";
      if (kind === "field") { picker.rebuild(); return; }
      picker.select.hidden = true;
      input.hidden = kind === "record";
      input.placeholder = "";
      if (kind === "template") {
        insert.textContent = "";
        insert.appendChild(h("option", { value: "", text: "Insert a field…" }));
        groups(systemOf(), false).forEach(function (g) {
          var group = h("optgroup", { label: g.label });
          g.options.forEach(function (o) { group.appendChild(h("option", { value: o.value, text: o.label })); });
          if (g.options.length) insert.appendChild(group);
        });
      }
    }
    kindSelect.addEventListener("change", rebuild);
    rebuild();
    rebuilders.push(rebuild);
  }

  // -- conditions (filter, follow-ups, score and tag rules) ------------------------------------------------------
  function operator(op) {
    return C.operators.filter(function (o) { return o.value === op; })[0] || C.operators[0];
  }
  function simple(cond) { return cond && typeof cond === "object" && !cond.all && !cond.any; }
  function conditionEditor(condition, systemsOf, onChange) {
    var mode = "all";
    var items = [];
    var raw = null;
    if (condition && (condition.all || condition.any)) {
      mode = condition.all ? "all" : "any";
      items = clone(condition.all || condition.any);
      if (!items.every(simple)) raw = condition;
    } else if (condition && condition.field) {
      items = [clone(condition)];
    }
    var box = h("div", { className: "ss-condition" });
    function emit() {
      var clean = items.filter(function (c) { return c.field; });
      var result = clean.length === 0 ? null : clean.length === 1 ? clean[0] : {};
      if (clean.length > 1) result[mode] = clean;
      onChange(result);
    }
    if (raw) {
      // Nested groups are kept as they are, editable as text.
      var text = h("textarea", { className: "ss-json", rows: 3, cols: 60 });
      text.value = JSON.stringify(raw);
      text.addEventListener("change", function () {
        try { onChange(JSON.parse(text.value)); text.setCustomValidity(""); } catch (e) { text.setCustomValidity("Not JSON"); }
      });
      box.appendChild(h("p", { className: "ss-small", text: "Groups inside groups: edited as text." }));
      box.appendChild(text);
      return box;
    }
    function render() {
      box.textContent = "";
      if (items.length > 1) {
        var modeSelect = h("select", { className: "ss-mode", "aria-label": "All or any" },
          h("option", { value: "all", text: "All of these hold" }), h("option", { value: "any", text: "Any of these holds" }));
        modeSelect.value = mode;
        modeSelect.addEventListener("change", function () { mode = modeSelect.value; emit(); });
        box.appendChild(modeSelect);
      }
      items.forEach(function (item, index) { box.appendChild(conditionRow(item, index)); });
      box.appendChild(h("button", {
        type: "button", className: "button ss-add", text: items.length ? "+ Another condition" : "+ Add a condition",
        onclick: function () { items.push({ field: "", op: "eq", value: "" }); render(); },
      }));
    }
    function conditionRow(item, index) {
      var row = h("div", { className: "ss-condition-row" });
      var fieldInput = h("input", { type: "text", className: "ss-other-input", "aria-label": "Field" });
      fieldInput.value = item.field || "";
      var opSelect = h("select", { className: "ss-op", "aria-label": "Test" });
      C.operators.forEach(function (o) { opSelect.appendChild(h("option", { value: o.value, text: o.label })); });
      opSelect.value = item.op || "eq";
      var valueInput = h("input", { type: "text", className: "ss-value", "aria-label": "Value" });
      var current = item.value;
      valueInput.value = Array.isArray(current) ? current.join(", ") : current === undefined || current === null ? "" : String(current);
      function sync() {
        var op = operator(opSelect.value);
        valueInput.hidden = !op.needsValue;
        item.field = fieldInput.value.trim();
        item.op = op.value;
        var text = valueInput.value.trim();
        if (!op.needsValue) delete item.value;
        else if (op.list) item.value = text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        else if (op.number && text !== "" && !isNaN(Number(text))) item.value = Number(text);
        else item.value = text;
        emit();
      }
      row.appendChild(fieldInput);
      row.appendChild(opSelect);
      row.appendChild(valueInput);
      row.appendChild(h("button", {
        type: "button", className: "ss-remove", title: "Remove this condition", text: "✕",
        onclick: function () { items.splice(index, 1); render(); emit(); },
      }));
      fieldPicker(fieldInput, systemsOf, { empty: "— field —" });
      fieldInput.addEventListener("change", sync);
      opSelect.addEventListener("change", sync);
      valueInput.addEventListener("input", sync);
      valueInput.hidden = !operator(opSelect.value).needsValue;
      return row;
    }
    render();
    return box;
  }

  // -- the filter and the follow-up rules (JSON text areas of the mapping form) ---------------------------------
  function parseJSON(text, fallback) { try { return text.trim() ? JSON.parse(text) : fallback; } catch (e) { return undefined; } }

  function filterEditor(area) {
    var condition = parseJSON(area.value, {});
    if (condition === undefined) return;  // not JSON: leave the box for the server to explain
    area.hidden = true;
    var editor = h("div", { className: "ss-rules-editor", "data-ss-editor": "filter" });
    editor.appendChild(h("p", { className: "ss-small", text: "Every record, unless conditions are added." }));
    editor.appendChild(conditionEditor(condition, readSystems, function (c) { area.value = JSON.stringify(c || {}); }));
    area.parentNode.insertBefore(editor, area);
  }

  // Offer a GHL list (workflows, campaigns, users) for an id input: a datalist filled from the catalog's picker for
  // the mapping's GHL connection. Typing an id still works (no connection chosen, no permission, GHL slow).
  var choiceLists = {};
  function withChoices(label, key) {
    var input = label.tagName === "INPUT" ? label : label.querySelector("input");
    var base = document.querySelector("textarea[data-ss-pickers]");
    var connection = document.getElementById("id_ghl_connection");
    if (!input || !base || !connection || !connection.value) return label;
    var id = "ss-choices-" + key;
    input.setAttribute("list", id);
    if (!choiceLists[key]) {
      var list = h("datalist", { id: id });
      document.body.appendChild(list);
      choiceLists[key] = list;
      var url = base.getAttribute("data-ss-pickers").replace("KEY", key) + "?connection=" + encodeURIComponent(connection.value);
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : { options: [] }; })
        .then(function (data) {
          (data.options || []).forEach(function (o) { list.appendChild(h("option", { value: o.value, text: o.text })); });
        }).catch(function () {});
    }
    return label;
  }

  function followupEditor(area) {
    var rules = parseJSON(area.value, []);
    if (!Array.isArray(rules)) return;
    area.hidden = true;
    var editor = h("div", { className: "ss-rules-editor", "data-ss-editor": "followups" });
    area.parentNode.insertBefore(editor, area);
    function save() { area.value = JSON.stringify(rules); }
    function render() {
      editor.textContent = "";
      if (!rules.length) editor.appendChild(h("p", { className: "ss-small", text: "No follow-up rule." }));
      rules.forEach(function (rule, index) {
        var card = h("div", { className: "ss-rule-card" });
        function text(key, label, size) {
          var input = h("input", { type: "text", size: size, "aria-label": label });
          input.value = rule[key] || "";
          input.addEventListener("input", function () { if (input.value) rule[key] = input.value; else delete rule[key]; save(); });
          return h("label", { className: "ss-rule-field" }, h("span", { text: label }), input);
        }
        var due = h("input", { type: "number", min: 0, max: 365, step: 1, className: "ss-number", "aria-label": "Due in days" });
        due.value = rule.due_in_days === undefined ? 1 : rule.due_in_days;
        due.addEventListener("input", function () { rule.due_in_days = due.value === "" ? 1 : Number(due.value); save(); });
        var fresh = h("input", { type: "checkbox" });
        fresh.checked = !!rule.new_records_only;
        fresh.addEventListener("change", function () { if (fresh.checked) rule.new_records_only = true; else delete rule.new_records_only; save(); });
        // What the rule does: a GHL task (the default), or enrol the contact in a workflow / campaign, or add followers.
        var action = h("select", { "aria-label": "Action" });
        [["task", "Create a GoHighLevel task"], ["workflow", "Enrol the contact in a workflow"],
         ["campaign", "Enrol the contact in a campaign"], ["followers", "Add followers to the contact"]].forEach(function (o) {
          action.appendChild(h("option", { value: o[0], text: o[1] }));
        });
        action.value = rule.action || "task";
        action.addEventListener("change", function () {
          if (action.value === "task") delete rule.action; else rule.action = action.value;
          save(); render();
        });
        var kind = rule.action || "task";
        var line = [text("name", "Rule name", 22), h("label", { className: "ss-rule-field" }, h("span", { text: "Then" }), action)];
        if (kind === "task") {
          line.push(text("title", "Task title ({field} placeholders)", 40),
            h("label", { className: "ss-rule-field" }, h("span", { text: "Due in (days)" }), due));
        } else if (kind === "workflow") {
          line.push(withChoices(text("workflow_id", "Workflow", 28), "workflows"));
        } else if (kind === "campaign") {
          line.push(withChoices(text("campaign_id", "Campaign", 28), "campaigns"));
        } else {
          var people = h("input", { type: "text", size: 40, "aria-label": "Follower user ids" });
          withChoices(people, "users");
          people.value = (rule.followers || []).join(", ");
          people.addEventListener("input", function () {
            rule.followers = people.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean); save();
          });
          line.push(h("label", { className: "ss-rule-field" }, h("span", { text: "Follower user ids (comma-separated)" }), people));
        }
        line.push(h("label", { className: "ss-rule-check" }, fresh, " only records people created (not copies made by this app)"),
          h("button", { type: "button", className: "ss-remove", title: "Remove this rule", text: "✕",
            onclick: function () { rules.splice(index, 1); save(); render(); } }));
        card.appendChild(h.apply(null, ["div", { className: "ss-rule-line" }].concat(line)));
        if (kind === "task") card.appendChild(h("div", { className: "ss-rule-line" }, text("body", "Task body (optional)", 60)));
        card.appendChild(h("div", { className: "ss-rule-when" }, h("span", { className: "ss-small", text: "When:" }),
          conditionEditor(rule.when, readSystems, function (c) { rule.when = c || {}; save(); })));
        editor.appendChild(card);
      });
      editor.appendChild(h("button", { type: "button", className: "button ss-add", text: "+ Add a follow-up rule",
        onclick: function () { rules.push({ name: "", when: {}, title: "", due_in_days: 1 }); save(); render(); } }));
    }
    render();
  }

  // -- transform steps --------------------------------------------------------------------------------------------
  var dialog = null;
  function transformSpec(name) { return C.transforms.filter(function (t) { return t.name === name; })[0]; }
  function stepText(step) {
    var params = step.params || {};
    var keys = Object.keys(params);
    if (!keys.length) return step.name;
    var shown = keys.map(function (k) {
      var v = params[k];
      var text = typeof v === "string" ? v : Array.isArray(v) ? v.length + " rule" + (v.length === 1 ? "" : "s") : JSON.stringify(v);
      if (typeof v === "object" && !Array.isArray(v) && v !== null) text = Object.keys(v).length + " entries";
      return k + ": " + (text.length > 18 ? text.slice(0, 17) + "…" : text);
    });
    return step.name + " (" + shown.join(", ") + ")";
  }

  function paramEditor(param, params, systemsOf) {
    var wrap = h("div", { className: "ss-param" });
    var title = param.name + (param.required ? "" : " (optional)");
    var help = [param.help, param.default !== null && param.default !== undefined && !param.required ? "default: " + JSON.stringify(param.default) : ""]
      .filter(Boolean).join("; ");
    wrap.appendChild(h("span", { className: "ss-param-name", text: title }));
    var current = params[param.name];
    function set(v) { if (v === undefined) delete params[param.name]; else params[param.name] = v; }
    var control;
    if (param.kind === "score_rules" || param.kind === "tag_rules") {
      control = rulesTable(param.kind, Array.isArray(current) ? current : [], set, systemsOf);
    } else if (param.choices.length) {
      control = h("select", {}, h("option", { value: "", text: "default" + (param.default ? " (" + param.default + ")" : "") }));
      param.choices.forEach(function (c) { control.appendChild(h("option", { value: c, text: c })); });
      control.value = current || "";
      control.addEventListener("change", function () { set(control.value || undefined); });
    } else if (param.kind === "bool") {
      control = h("select", {}, h("option", { value: "", text: "default (" + (param.default ? "yes" : "no") + ")" }),
        h("option", { value: "true", text: "yes" }), h("option", { value: "false", text: "no" }));
      control.value = current === true ? "true" : current === false ? "false" : "";
      control.addEventListener("change", function () { set(control.value === "" ? undefined : control.value === "true"); });
    } else if (param.kind === "table") {
      control = tableEditor(current && typeof current === "object" ? current : {}, set);
    } else if (param.kind === "text_list") {
      control = h("textarea", { rows: 2, cols: 30 });
      control.value = Array.isArray(current) ? current.join("\n") : "";
      control.addEventListener("input", function () {
        var lines = control.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
        set(lines.length ? lines : undefined);
      });
    } else {
      control = h("input", { type: "text", size: 30 });
      control.value = current === undefined ? "" : typeof current === "string" ? current : JSON.stringify(current);
      control.addEventListener("input", function () {
        var text = control.value;
        if (text === "") return set(undefined);
        if (param.kind === "any") {
          // Numbers, true/false and null are taken as such; anything else is text.
          try { var parsed = JSON.parse(text); if (typeof parsed !== "string") return set(parsed); } catch (e) { /* text */ }
        }
        set(text);
      });
    }
    wrap.appendChild(control);
    if (help) wrap.appendChild(h("span", { className: "ss-small", text: help }));
    return wrap;
  }

  function tableEditor(table, set) {
    var rows = Object.keys(table).map(function (k) { return [k, table[k]]; });
    var box = h("div", { className: "ss-table-editor" });
    function save() {
      var out = {};
      rows.forEach(function (r) { if (r[0] !== "") out[r[0]] = r[1]; });
      set(Object.keys(out).length ? out : undefined);
    }
    function render() {
      box.textContent = "";
      rows.forEach(function (r, i) {
        var key = h("input", { type: "text", size: 14, "aria-label": "When the value is" });
        var val = h("input", { type: "text", size: 14, "aria-label": "write" });
        key.value = r[0];
        val.value = typeof r[1] === "string" ? r[1] : JSON.stringify(r[1]);
        key.addEventListener("input", function () { r[0] = key.value; save(); });
        // A value kept as it was keeps its type (a number stays a number).
        var original = r[1];
        val.addEventListener("input", function () { r[1] = val.value === JSON.stringify(original) ? original : val.value; save(); });
        box.appendChild(h("div", { className: "ss-table-row" }, key, " → ", val,
          h("button", { type: "button", className: "ss-remove", text: "✕", title: "Remove", onclick: function () { rows.splice(i, 1); save(); render(); } })));
      });
      box.appendChild(h("button", { type: "button", className: "button ss-add", text: "+ entry", onclick: function () { rows.push(["", ""]); render(); } }));
    }
    render();
    return box;
  }

  function rulesTable(kind, rules, set, systemsOf) {
    rules = clone(rules);
    var box = h("div", { className: "ss-rules-table" });
    function save() { set(rules); }
    function render() {
      box.textContent = "";
      rules.forEach(function (rule, i) {
        var amount = h("input", { type: kind === "score_rules" ? "number" : "text", size: 10, className: "ss-amount",
          "aria-label": kind === "score_rules" ? "Points" : "Tag" });
        amount.value = kind === "score_rules" ? (rule.points === undefined ? 0 : rule.points) : rule.tag || "";
        amount.addEventListener("input", function () {
          if (kind === "score_rules") rule.points = amount.value === "" ? 0 : Number(amount.value);
          else rule.tag = amount.value;
          save();
        });
        box.appendChild(h("div", { className: "ss-rule-card" },
          h("div", { className: "ss-rule-line" },
            h("span", { className: "ss-small", text: kind === "score_rules" ? "Points" : "Add the tag" }), amount,
            h("span", { className: "ss-small", text: "when:" }),
            h("button", { type: "button", className: "ss-remove", text: "✕", title: "Remove this rule",
              onclick: function () { rules.splice(i, 1); save(); render(); } })),
          conditionEditor(rule.when, systemsOf, function (c) { rule.when = c || {}; save(); })));
      });
      box.appendChild(h("button", { type: "button", className: "button ss-add", text: "+ Add a rule", onclick: function () {
        rules.push(kind === "score_rules" ? { when: {}, points: 10 } : { when: {}, tag: "" }); save(); render();
      } }));
    }
    render();
    save();
    return box;
  }

  function openChainDialog(steps, heading, systemsOf, done) {
    if (!dialog) {
      dialog = h("dialog", { className: "ss-dialog", id: "ss-chain-dialog" });
      document.body.appendChild(dialog);
    }
    var work = clone(steps);
    dialog.textContent = "";
    var list = h("ol", { className: "ss-steps-list" });
    var adder = h("select", { className: "ss-add-step", "aria-label": "Add a transform" });
    function render() {
      list.textContent = "";
      if (!work.length) list.appendChild(h("li", { className: "ss-small", text: "No transform: the value is written as it is." }));
      work.forEach(function (step, i) {
        var spec = transformSpec(step.name) || { description: "", params: [] };
        step.params = step.params || {};
        var item = h("li", { className: "ss-step" },
          h("div", { className: "ss-step-head" },
            h("strong", { text: step.name }), h("span", { className: "ss-small", text: spec.description }),
            h("span", { className: "ss-step-tools" },
              h("button", { type: "button", title: "Move up", text: "↑", disabled: i === 0, onclick: function () { work.splice(i - 1, 0, work.splice(i, 1)[0]); render(); } }),
              h("button", { type: "button", title: "Move down", text: "↓", disabled: i === work.length - 1, onclick: function () { work.splice(i + 1, 0, work.splice(i, 1)[0]); render(); } }),
              h("button", { type: "button", className: "ss-remove", title: "Remove", text: "✕", onclick: function () { work.splice(i, 1); render(); } }))));
        spec.params.forEach(function (param) { item.appendChild(paramEditor(param, step.params, systemsOf)); });
        list.appendChild(item);
      });
    }
    adder.appendChild(h("option", { value: "", text: "+ Add a transform…" }));
    C.transforms.forEach(function (t) { adder.appendChild(h("option", { value: t.name, text: t.name + " — " + t.description })); });
    adder.addEventListener("change", function () {
      if (!adder.value) return;
      work.push({ name: adder.value, params: {} });
      adder.value = "";
      render();
    });
    render();
    dialog.appendChild(h("h2", { text: heading }));
    dialog.appendChild(list);
    dialog.appendChild(adder);
    dialog.appendChild(h("div", { className: "ss-dialog-buttons" },
      h("button", { type: "button", className: "button default", text: "Done", onclick: function () { done(work); dialog.close(); } }),
      h("button", { type: "button", className: "button", text: "Cancel", onclick: function () { dialog.close(); } })));
    dialog.showModal();
  }

  function chainEditor(input, row, systemOf) {
    var steps;
    var text = input.value.trim();
    if (text.charAt(0) === "[") steps = parseJSON(text, []);
    else if (!text) steps = [];
    else if (input.dataset.ssSteps) steps = parseJSON(input.dataset.ssSteps, undefined);
    if (!Array.isArray(steps)) return;  // typed text the editor cannot read: the box stays
    input.hidden = true;
    var summary = h("span", { className: "ss-chain-summary" });
    var button = h("button", { type: "button", className: "button ss-edit-chain", text: "Edit" });
    function show() {
      summary.textContent = steps.length ? steps.map(stepText).join(" → ") : "none";
      summary.title = summary.textContent;
    }
    button.addEventListener("click", function () {
      var target = row.querySelector("[name$='-target_field']");
      var heading = "Transforms" + (target && target.value ? " for " + target.value : "");
      openChainDialog(steps, heading, function () { return [systemOf()]; }, function (result) {
        steps = result.filter(function (s) { return s.name; });
        input.value = steps.length ? JSON.stringify(steps) : "";
        show();
        fire(input);
      });
    });
    input.parentNode.appendChild(summary);
    input.parentNode.appendChild(button);
    show();
  }

  // -- the field-mapping rows ------------------------------------------------------------------------------------
  function enhanceRow(row) {
    if (row.dataset.ssEnhanced || row.classList.contains("empty-form")) return;
    var direction = row.querySelector("select[name$='-direction']");
    var target = row.querySelector("input[name$='-target_field']");
    var kind = row.querySelector("select[name$='-source_kind']");
    var source = row.querySelector("input[name$='-source']");
    var chain = row.querySelector("input[name$='-transforms']");
    if (!target || !kind || !source || !chain) return;
    row.dataset.ssEnhanced = "1";
    // Rows without a direction (automations' action fields) use the page's one direction.
    function dir() { return C.directions[direction ? direction.value : C.rowDirection] || C.directions.to_streettext; }
    var targetPicker = fieldPicker(target, function () { return [dir().target]; }, { writableOnly: true });
    sourceControl(source, kind, function () { return dir().source; });
    chainEditor(chain, row, function () { return dir().source; });
    if (direction) direction.addEventListener("change", function () { rebuildAll(); targetPicker.rebuild(); });
  }

  function rebuildAll() { rebuilders.forEach(function (fn) { fn(); }); }

  function loadCustomFields(system, selectId) {
    var select = byId(selectId);
    if (!select || !C.customUrl) return;  // pages without custom fields (automations)
    select.addEventListener("change", function () {
      if (!select.value) return;
      var url = C.customUrl.replace(/0\/$/, select.value + "/") + "?object_type=" + encodeURIComponent(objectType());
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { C.custom[system] = data; rebuildAll(); } });
    });
    // The add page: a connection already chosen (or the only one) gets its custom fields at once.
    if (select.value && String(C.connections[system] || "") !== select.value) fire(select);
  }

  function start() {
    document.querySelectorAll(".ss-field-mappings tr.form-row").forEach(enhanceRow);
    document.addEventListener("formset:added", function (event) {
      var row = event.target && event.target.closest ? event.target.closest("tr") || event.target : null;
      if (row) enhanceRow(row);
    });
    document.querySelectorAll("input[data-ss-picker='field']").forEach(function (input) {
      fieldPicker(input, function () { return [input.dataset.ssSystem]; }, { empty: "— none —" });
    });
    var filter = document.querySelector("textarea[data-ss-rules='filter']");
    if (filter) filterEditor(filter);
    var followups = document.querySelector("textarea[data-ss-rules='followups']");
    if (followups) followupEditor(followups);
    ["id_object_type", "id_direction", "id_mode"].forEach(function (id) {
      var node = byId(id);
      if (node) node.addEventListener("change", rebuildAll);
    });
    loadCustomFields("ghl", "id_ghl_connection");
    loadCustomFields("streettext", "id_streettext_connection");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
