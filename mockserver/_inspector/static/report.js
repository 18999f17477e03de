/* The conformance report: each failing case drawn as the inspector draws an entry (draw.js), with its message. */
(function () {
  "use strict";
  var cases = window.VISION_REPORT || [];
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  document.getElementById("summary").textContent = cases.length + " failing case(s)";
  var root = document.getElementById("cases");
  cases.forEach(function (c, n) {
    var box = el("section", "case"); box.id = "case-" + n;
    box.appendChild(el("h2", null, c.name + " — " + c.provider + " " + c.operation + (c.status ? " (status " + c.status + ")" : "")));
    var main = el("div", "entry"); main.style.display = "flex"; main.style.gap = "20px"; main.style.flexWrap = "wrap";
    var pic = el("div", "picture"), canvas = el("canvas");
    pic.appendChild(canvas);
    var side = el("div", "side");
    var table = el("table", "grid");
    table.innerHTML = "<thead><tr><th></th><th>label</th><th>score</th><th>where</th><th>area</th></tr></thead><tbody></tbody>";
    side.appendChild(table);
    var list = el("ul", "violations");
    (c.violations || []).forEach(function (v) {
      var li = el("li", "violation " + (v.severity || "error"));
      li.appendChild(el("code", "path", v.path));
      li.appendChild(el("span", "check", " [" + v.check + ", " + v.severity + "] "));
      li.appendChild(el("span", null, v.message));
      li.dataset.path = v.path;
      list.appendChild(li);
      li.addEventListener("click", function () {
        var d = box.drawing; if (!d) return;
        var item = d.itemForPath(v.path);
        Array.prototype.forEach.call(list.children, function (x) { x.classList.toggle("chosen", x === li); });
        d.highlight(item ? item.index : null);
        window.VisionDraw.mark(table.tBodies[0], item ? item.index : null);
      });
    });
    side.appendChild(list);
    main.appendChild(pic); main.appendChild(side);
    box.appendChild(main);
    box.appendChild(el("pre", "code", c.message));
    root.appendChild(box);
    var image = c.image ? window.VisionDraw.loadImage(c.image) : Promise.resolve(null);
    image.catch(function () { return null; }).then(function (im) {
      return window.VisionDraw.render(canvas, im, c.answer, {provider: c.provider, operation: c.operation, params: c.params || {}, roles: c.roles || null});
    }).then(function (d) {
      box.drawing = d;
      window.VisionDraw.itemsTable(table.tBodies[0], d);
      box.dataset.drawn = "true";
    });
  });
})();
