/* One journal entry: the request image with the answer drawn over it, its items, verdicts, request and answer. */
(function () {
  "use strict";
  var api = window.VisionApi, el = api.el;
  var id = Number(window.location.pathname.replace(/\/+$/, "").split("/").pop());
  var base = "/__vision__/ui/api/entries/" + id;
  var drawing = null, data = null;

  function kv(table, pairs) {
    table.textContent = "";
    pairs.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, p[0]));
      tr.appendChild(el("td", {}, p[1] === null || p[1] === undefined ? "—" : typeof p[1] === "object" ? JSON.stringify(p[1]) : p[1]));
      table.appendChild(tr);
    });
  }

  function short(value) {
    var text = JSON.stringify(value, function (k, v) {
      return typeof v === "string" && v.length > 120 ? v.slice(0, 60) + "... (" + v.length + " characters)" : v;
    }, 2);
    return text === undefined ? "" : text;
  }

  function verdictBlock(title, verdict, side) {
    var box = el("div", {"class": "verdict-block", id: side + "-verdict"});
    var state = verdict.valid ? "valid" : "invalid";
    var head = el("h3", {}, title + ": ");
    head.appendChild(el("span", {"class": "verdict " + state}, state));
    box.appendChild(head);
    if (!verdict.violations.length) { box.appendChild(el("p", {"class": "muted"}, "No violation.")); return box; }
    var list = el("ul", {"class": "violations"});
    verdict.violations.forEach(function (v) {
      var li = el("li", {"class": "violation " + v.severity, tabindex: "0", "data-path": v.path});
      li.appendChild(el("code", {"class": "path"}, v.path));
      li.appendChild(el("span", {"class": "check"}, " [" + v.check + ", " + v.severity + "] "));
      li.appendChild(el("span", {}, v.message));
      li.addEventListener("click", function () { choose(li, v.path); });
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  }

  function choose(li, path) {
    Array.prototype.forEach.call(document.querySelectorAll(".violation"), function (x) { x.classList.toggle("chosen", x === li); });
    if (!drawing) return;
    var found = drawing.highlightPath(path);
    var item = found && found.kind ? found : null;
    var tbody = document.querySelector("#items tbody");
    window.VisionDraw.mark(tbody, item ? item.index : null);
    var note = document.getElementById("action-note");
    note.textContent = item ? "Highlighted: item " + item.index + " (" + (item.label === undefined ? "no label" : item.label) + ")" :
                       found ? "Highlighted: the prompt point (" + found.x + ", " + found.y + ")" :
                       "This violation concerns no single segment, box or point.";
  }

  function fail(err) {
    var box = document.getElementById("error");
    box.hidden = false;
    box.textContent = err.message;
  }

  function show(d) {
    data = d;
    var e = d.entry;
    document.title = "vision-mock inspector: entry " + e.id;
    document.getElementById("title").textContent = "#" + e.id + " " + e.method + " " + e.path;
    document.getElementById("summary").textContent = [e.provider, e.operation, e.model, "status " + e.status, e.source,
      e.scenario ? "scenario " + e.scenario : null].filter(Boolean).join(" · ");
    kv(document.getElementById("meta"), [["time", e.time_iso], ["provider", e.provider], ["operation", e.operation],
      ["model", e.model], ["wire form", e.form], ["status", e.status], ["request verdict (journal)", e.verdict_word],
      ["journal violations", (e.verdict && e.verdict.violations || []).join("\n") || null], ["warnings", e.warnings.join("\n") || null],
      ["scenario", e.scenario], ["source", e.source], ["duration", e.duration_ms === null ? null : e.duration_ms + " ms"],
      ["image", e.image ? e.image.width + "x" + e.image.height + " " + (e.image.format || "") : null],
      ["body", e.body_size + " bytes, sha256 " + e.body_sha256], ["query", e.query]]);
    kv(document.getElementById("headers"), Object.keys(e.headers || {}).map(function (k) { return [k, e.headers[k]]; }));
    kv(document.getElementById("response-headers"), d.response_headers || []);
    document.getElementById("params").textContent = short(d.params || {});
    document.getElementById("curl").textContent = d.curl;
    var noteBox = document.getElementById("bodies-note");
    if (!d.bodies_kept) { noteBox.hidden = false; noteBox.textContent = d.bodies_note; }
    if (d.judge_error) { noteBox.hidden = false; noteBox.textContent = d.judge_error; }
    document.getElementById("answer").textContent = d.answer !== undefined ? short(d.answer) : (d.answer_text || "(not kept)");
    var verdicts = document.getElementById("verdicts");
    verdicts.textContent = "";
    if (d.request_verdict) verdicts.appendChild(verdictBlock("Request", d.request_verdict, "request"));
    if (d.answer_verdict) verdicts.appendChild(verdictBlock("Answer", d.answer_verdict, "answer"));
    if (!d.request_verdict && !d.answer_verdict) verdicts.appendChild(el("p", {"class": "muted"}, "Not judged: no bodies kept."));
    if (d.image_note) { var n = document.getElementById("image-note"); n.hidden = false; n.textContent = d.image_note; }
    var imagePromise = d.image ? api.blob(base + "/image").then(function (b) { return window.VisionDraw.loadImage(URL.createObjectURL(b)); })
                               : Promise.resolve(null);
    return imagePromise.then(function (image) {
      if (!image && d.answer === undefined) return null;
      return window.VisionDraw.render(document.getElementById("canvas"), image, d.answer,
                                      {provider: e.provider, operation: e.operation, params: d.params || {}, roles: d.roles || null});
    }).then(function (result) {
      drawing = result;
      if (!drawing) return;
      window.VisionDraw.itemsTable(document.querySelector("#items tbody"), drawing);
      if (drawing.points.length) {
        var p = document.getElementById("points"); p.hidden = false;
        p.textContent = "Prompt points (yellow): " + drawing.points.map(function (q) { return "(" + q.x + ", " + q.y + ")"; }).join(" ");
      }
      document.body.dataset.drawn = "true";
    });
  }

  document.getElementById("copy-curl").addEventListener("click", function () {
    var text = data ? data.curl : "", note = document.getElementById("action-note");
    var done = function () { note.textContent = "curl command copied (credentials stay redacted: put yours back)."; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () { select(); });
    else select();
    function select() {
      var range = document.createRange();
      range.selectNodeContents(document.getElementById("curl"));
      var s = window.getSelection(); s.removeAllRanges(); s.addRange(range);
      note.textContent = "The curl command is selected: copy it with Ctrl+C.";
    }
  });

  document.getElementById("download-har").addEventListener("click", function () {
    api.blob(base + "/har").then(function (b) {
      var a = el("a", {href: URL.createObjectURL(b), download: "vision-entry-" + id + ".har"});
      document.body.appendChild(a); a.click(); a.remove();
    }).catch(fail);
  });

  api.json(base).then(show).catch(fail).then(function () { document.body.dataset.loaded = "true"; });
})();
