/* The journal list: polls /__vision__/ui/api/entries, newest first, filtered by every column's value. */
(function () {
  "use strict";
  var api = window.VisionApi, el = api.el;
  var FILTERS = ["provider", "operation", "model", "form", "status", "verdict_word", "has_warnings", "scenario", "source"];
  var rows = [], lastSignature = "";

  function value(entry, name) {
    if (name === "has_warnings") return entry.warnings && entry.warnings.length ? "with warnings" : "none";
    var v = entry[name];
    return v === null || v === undefined || v === "" ? "—" : String(v);
  }

  function refreshOptions() {
    var form = document.getElementById("filters");
    FILTERS.forEach(function (name) {
      var select = form.elements[name], chosen = select.value;
      var seen = {};
      rows.forEach(function (e) { seen[value(e, name)] = true; });
      var values = Object.keys(seen).sort();
      var wanted = ["(all)"].concat(values).join("\n");
      if (select.dataset.values === wanted) return;
      select.dataset.values = wanted;
      select.textContent = "";
      select.appendChild(el("option", {value: ""}, "(all)"));
      values.forEach(function (v) { select.appendChild(el("option", {value: v}, v)); });
      if (chosen && seen[chosen]) select.value = chosen;
    });
  }

  function matches(entry) {
    var form = document.getElementById("filters");
    return FILTERS.every(function (name) {
      var want = form.elements[name].value;
      return !want || value(entry, name) === want;
    });
  }

  function render() {
    refreshOptions();
    var tbody = document.querySelector("#journal tbody");
    tbody.textContent = "";
    var shown = rows.filter(matches);
    shown.forEach(function (e) {
      var tr = el("tr", {"data-id": String(e.id), "class": "row " + e.verdict_word});
      var link = el("a", {href: "/__vision__/ui/entries/" + e.id}, String(e.id));
      var td = el("td"); td.appendChild(link); tr.appendChild(td);
      var when = e.time_iso ? e.time_iso.replace("T", " ").replace("Z", "") : "";
      [when, value(e, "host"), value(e, "provider"), value(e, "operation"), value(e, "model"), value(e, "form"), value(e, "status")]
        .forEach(function (t) { tr.appendChild(el("td", {}, t)); });
      tr.appendChild(el("td", {"class": "verdict " + e.verdict_word}, e.verdict_word));
      tr.appendChild(el("td", {title: (e.warnings || []).join("\n")}, e.warnings && e.warnings.length ? e.warnings.length + " warning(s)" : ""));
      [value(e, "scenario"), e.source, e.duration_ms === null || e.duration_ms === undefined ? "—" : e.duration_ms.toFixed(1) + " ms"]
        .forEach(function (t) { tr.appendChild(el("td", {}, t)); });
      tr.addEventListener("click", function (ev) { if (ev.target.tagName !== "A") window.location.href = link.href; });
      tbody.appendChild(tr);
    });
    document.getElementById("empty").hidden = shown.length > 0;
  }

  function poll() {
    return api.json("/__vision__/ui/api/entries").then(function (data) {
      document.getElementById("error").hidden = true;
      document.getElementById("summary").textContent = data.kept + " kept of " + data.total + " received" +
        (data.evicted ? " (" + data.evicted + " evicted)" : "");
      var signature = data.total + ":" + data.kept + ":" + (data.entries.length ? data.entries[0].id : 0);
      if (signature !== lastSignature) { lastSignature = signature; rows = data.entries; render(); }
    }).catch(function (err) {
      var box = document.getElementById("error");
      box.hidden = false; box.textContent = "The journal could not be read: " + err.message;
    });
  }

  document.getElementById("filters").addEventListener("change", render);
  function loop() {
    var next = function () { setTimeout(loop, 1000); };
    if (document.getElementById("live").checked) poll().then(next, next); else next();
  }
  poll().then(function () { setTimeout(loop, 1000); });
})();
