/* Start page charts (Chart.js, served by the app). The same figures are printed as tables in the page; once a
   chart is drawn its table folds away under "Data as a table". Without JavaScript the tables stay open. */
(function () {
  "use strict";
  var source = document.getElementById("ss-chart-data");
  if (!source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var css = getComputedStyle(document.documentElement);
  var colour = function (name, fallback) { return (css.getPropertyValue(name) || fallback).trim(); };
  var ok = colour("--ss-ok", "#1a7f37"), info = colour("--ss-info", "#0969da"), bad = colour("--ss-bad", "#cf222e");
  var text = colour("--body-quiet-color", "#666"), grid = colour("--hairline-color", "#ddd");
  window.Chart.defaults.color = text;
  window.Chart.defaults.borderColor = grid;
  window.Chart.defaults.animation = false;

  var configs = {
    "records": {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: "Created", data: data.created, backgroundColor: ok },
        { label: "Updated", data: data.updated, backgroundColor: info },
        { label: "Failed", data: data.failed, backgroundColor: bad }
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    },
    "runs": {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: "Runs", data: data.runs, backgroundColor: info },
        { label: "Failed runs", data: data.failed_runs, backgroundColor: bad }
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    },
    "error-rate": {
      type: "line",
      data: { labels: data.labels, datasets: [
        { label: "Error rate (%)", data: data.error_rate, borderColor: bad, backgroundColor: bad, pointRadius: 2,
          tension: 0.2 }
      ] },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 10, ticks: { callback: function (v) { return v + " %"; } } } } }
    }
  };

  document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
    var config = configs[figure.getAttribute("data-chart")];
    var holder = figure.querySelector(".ss-canvas");
    if (!config || !holder) { return; }
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", figure.querySelector("figcaption").textContent + " (the table below has the figures)");
    holder.appendChild(canvas);
    holder.hidden = false;
    config.options.maintainAspectRatio = false;
    config.options.plugins = { legend: { position: "bottom", labels: { boxWidth: 12 } } };
    new window.Chart(canvas, config);
    var table = figure.querySelector("details.ss-chart-table");
    if (table) { table.open = false; }
    figure.setAttribute("data-drawn", "1");
  });
})();
