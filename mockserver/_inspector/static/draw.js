/* vision-contracts inspector: draws a provider's answer over its input image on a canvas.
   Shared by the inspector's entry page and the conformance run's HTML report (inlined there). No dependencies.

   VisionDraw.render(canvas, image, answer, {provider, operation, params}) -> Promise<Drawing>
     image: an HTMLImageElement already loaded (or null: the answer is drawn on a blank canvas of the masks' size)
     Drawing.items: [{index, kind: "mask"|"box"|"class"|"point", label, score, colour, area, box, path}]
     Drawing.highlight(i): emphasise item i (null: none); Drawing.itemForPath(jsonPath): the item a JSON path concerns
*/
(function (global) {
  "use strict";

  var PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
                 "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075"];

  function colourOf(i) { return PALETTE[i % PALETTE.length]; }

  function rgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function loadImage(src) {
    return new Promise(function (resolve, reject) {
      var im = new Image();
      im.onload = function () { resolve(im); };
      im.onerror = function () { reject(new Error("the image " + String(src).slice(0, 60) + " does not decode")); };
      im.src = src;
    });
  }

  function pngSrc(value) {
    if (typeof value !== "string" || !value) return null;
    return value.indexOf("data:") === 0 ? value : "data:image/png;base64," + value;
  }

  /* The pixels of a mask image scaled to width x height: an array of grey values (the red channel). */
  function maskPixels(im, width, height) {
    var c = document.createElement("canvas");
    c.width = width; c.height = height;
    var ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(im, 0, 0, width, height);
    var data = ctx.getImageData(0, 0, width, height).data;
    var out = new Uint8Array(width * height);
    for (var i = 0; i < out.length; i++) out[i] = data[i * 4];
    return out;
  }

  /* An overlay canvas: colour where pick(value) holds, transparent elsewhere; and how many pixels it covers. */
  function overlay(values, width, height, colour, pick) {
    var c = document.createElement("canvas");
    c.width = width; c.height = height;
    var ctx = c.getContext("2d");
    var img = ctx.createImageData(width, height);
    var col = rgb(colour), area = 0;
    for (var i = 0; i < values.length; i++) {
      if (pick(values[i])) {
        img.data[i * 4] = col[0]; img.data[i * 4 + 1] = col[1]; img.data[i * 4 + 2] = col[2]; img.data[i * 4 + 3] = 255;
        area++;
      }
    }
    ctx.putImageData(img, 0, 0);
    return {canvas: c, area: area};
  }

  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  /* The answer's items, before any mask is decoded. */
  function describe(answer, provider, operation, params) {
    var items = [], points = [];
    if (provider === "huggingface" && Array.isArray(answer)) {
      answer.forEach(function (it, i) {
        it = it || {};
        var item = {index: i, label: it.label, score: it.score, path: "$[" + i + "]"};
        if (operation === "object-detection" || (it.box && typeof it.box === "object")) {
          item.kind = "box";
          var b = it.box && typeof it.box === "object" ? it.box : {};
          item.box = {xmin: num(b.xmin), ymin: num(b.ymin), xmax: num(b.xmax), ymax: num(b.ymax)};
        } else {
          item.kind = "mask";
          item.maskSrc = pngSrc(it.mask);
        }
        items.push(item);
      });
    } else if (provider === "roboflow" && answer && typeof answer === "object") {
      var names = answer.class_map && typeof answer.class_map === "object" ? answer.class_map : {};
      Object.keys(names).forEach(function (id) {
        items.push({index: items.length, kind: "class", classId: Number(id), label: String(names[id]), score: null,
                    path: "$.class_map[\"" + id + "\"]", maskSrc: pngSrc(answer.segmentation_mask),
                    maskPath: "$.segmentation_mask"});
      });
    } else if (provider === "airefinery" && answer && typeof answer === "object" && Array.isArray(answer.data)) {
      answer.data.forEach(function (it, i) {
        it = it || {};
        items.push({index: i, kind: "mask", label: it.label, score: it.score, path: "$.data[" + i + "]",
                    maskSrc: pngSrc(it.b64_json)});
      });
    }
    var prompt = params && params.segment_prompt;
    if (Array.isArray(prompt)) {
      prompt.forEach(function (group, g) {
        (Array.isArray(group) ? group : []).forEach(function (p, k) {
          if (Array.isArray(p) && p.length >= 2) points.push({x: Number(p[0]), y: Number(p[1]), group: g, path: "$.body.segment_prompt[" + g + "][" + k + "]"});
        });
      });
    }
    items.forEach(function (item, i) { item.colour = colourOf(i); });
    return {items: items, points: points};
  }

  function render(canvas, image, answer, opts) {
    opts = opts || {};
    var described = describe(answer, opts.provider, opts.operation, opts.params || {});
    var items = described.items, points = described.points;
    var srcs = {};
    items.forEach(function (it) { if (it.maskSrc) srcs[it.maskSrc] = null; });
    var keys = Object.keys(srcs);
    return Promise.all(keys.map(function (k) { return loadImage(k).then(function (im) { srcs[k] = im; }, function () { srcs[k] = null; }); }))
      .then(function () {
        var width = image ? image.naturalWidth : 0, height = image ? image.naturalHeight : 0;
        if (!width) keys.forEach(function (k) { if (srcs[k]) { width = Math.max(width, srcs[k].naturalWidth); height = Math.max(height, srcs[k].naturalHeight); } });
        if (!width) { width = 320; height = 240; }
        canvas.width = width; canvas.height = height;
        var decoded = {};
        items.forEach(function (it) {
          if (!it.maskSrc) return;
          var im = srcs[it.maskSrc];
          if (!im) { it.error = "the mask does not decode"; return; }
          if (!decoded[it.maskSrc]) decoded[it.maskSrc] = maskPixels(im, width, height);
          var values = decoded[it.maskSrc];
          // binary masks: 0/255 (Hugging Face) or 0/1 (AI Refinery); a grey mask is cut at half its range
          var top = 0;
          for (var k = 0; k < values.length; k++) if (values[k] > top) top = values[k];
          var cut = top <= 1 ? 1 : 128;
          var o = it.kind === "class"
            ? overlay(values, width, height, it.colour, function (v) { return v === it.classId; })
            : overlay(values, width, height, it.colour, function (v) { return v >= cut; });
          it.overlay = o.canvas; it.area = o.area;
          if (it.kind === "class" && /^background$/i.test(String(it.label))) it.quiet = true;
        });
        items.forEach(function (it) {
          if (it.kind === "box" && it.box && it.box.xmin !== null && it.box.xmax !== null && it.box.ymin !== null && it.box.ymax !== null) {
            it.area = Math.max(0, it.box.xmax - it.box.xmin) * Math.max(0, it.box.ymax - it.box.ymin);
          }
        });
        var drawing = {items: items, points: points, width: width, height: height, highlighted: null};
        drawing.hotPoint = null;
        drawing.highlight = function (i) {
          drawing.highlighted = (i === undefined ? null : i); drawing.hotPoint = null; paint(canvas, image, drawing);
        };
        /* Highlight what a violation's JSON path concerns: an answer item, or a request's prompt point. */
        drawing.highlightPath = function (path) {
          var item = itemForPath(items, path), point = null;
          if (!item && typeof path === "string") {
            points.forEach(function (p) { if (!point && (path === p.path || path.indexOf(p.path) === 0 || p.path.indexOf(path + "[") === 0)) point = p; });
          }
          drawing.highlighted = item ? item.index : null;
          drawing.hotPoint = point ? point.path : null;
          paint(canvas, image, drawing);
          return item || point;
        };
        drawing.itemForPath = function (path) { return itemForPath(items, path); };
        paint(canvas, image, drawing);
        return drawing;
      });
  }

  function itemForPath(items, path) {
    if (typeof path !== "string") return null;
    var best = null, bestLength = -1;
    items.forEach(function (it) {
      [it.path, it.maskPath].forEach(function (p) {
        if (!p) return;
        var hit = path === p || path.indexOf(p + ".") === 0 || path.indexOf(p + "[") === 0;
        if (hit && p.length > bestLength && !(it.maskPath === p && it.quiet)) { best = it; bestLength = p.length; }
      });
    });
    return best;
  }

  function paint(canvas, image, drawing) {
    var ctx = canvas.getContext("2d");
    var w = drawing.width, h = drawing.height, hi = drawing.highlighted;
    ctx.save();
    ctx.clearRect(0, 0, w, h);
    if (image) ctx.drawImage(image, 0, 0, w, h);
    else { ctx.fillStyle = "#f4f4f4"; ctx.fillRect(0, 0, w, h); }
    var line = Math.max(2, Math.round(Math.min(w, h) / 150));
    drawing.items.forEach(function (it, i) {
      var focus = hi === null || hi === i;
      if (it.overlay && (!it.quiet || hi === i)) {
        ctx.globalAlpha = hi === null ? 0.5 : (focus ? 0.75 : 0.12);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(it.overlay, 0, 0);
        ctx.globalAlpha = 1;
      }
    });
    drawing.items.forEach(function (it, i) {
      if (it.kind !== "box" || !it.box || it.area === undefined) return;
      var focus = hi === null || hi === i, b = it.box;
      ctx.globalAlpha = focus ? 0.18 : 0.05;
      ctx.fillStyle = it.colour;
      ctx.fillRect(b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin);
      ctx.globalAlpha = focus ? 1 : 0.25;
      ctx.strokeStyle = it.colour;
      ctx.lineWidth = hi === i ? line * 2 : line;
      ctx.strokeRect(b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin);
      var text = (it.label === undefined || it.label === null ? "(no label)" : String(it.label)) + (typeof it.score === "number" ? " " + it.score.toFixed(2) : "");
      var size = Math.max(11, Math.round(Math.min(w, h) / 28));
      ctx.font = size + "px sans-serif";
      var tw = ctx.measureText(text).width + 6, ty = b.ymin - size - 4 >= 0 ? b.ymin - size - 4 : b.ymin;
      ctx.fillStyle = it.colour;
      ctx.fillRect(b.xmin, ty, tw, size + 4);
      ctx.fillStyle = "#fff";
      ctx.textBaseline = "top";
      ctx.fillText(text, b.xmin + 3, ty + 2);
      ctx.globalAlpha = 1;
    });
    drawing.points.forEach(function (p) {
      var r = Math.max(5, Math.round(Math.min(w, h) / 60));
      if (drawing.hotPoint === p.path) {
        ctx.beginPath();
        ctx.arc(p.x, p.y, r * 2.6, 0, Math.PI * 2);
        ctx.lineWidth = 3; ctx.strokeStyle = "#e53935"; ctx.stroke();
      }
      ctx.beginPath();
      ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
      ctx.fillStyle = "#ffeb3b"; ctx.fill();
      ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(p.x - r * 1.8, p.y); ctx.lineTo(p.x + r * 1.8, p.y);
      ctx.moveTo(p.x, p.y - r * 1.8); ctx.lineTo(p.x, p.y + r * 1.8);
      ctx.stroke();
    });
    ctx.restore();
  }

  function fmtScore(s) { return typeof s === "number" ? s.toFixed(3) : (s === null ? "null" : "—"); }

  /* A legend / items table body for a drawing: rows that highlight their item on hover. */
  function itemsTable(tbody, drawing) {
    tbody.textContent = "";
    if (!drawing.items.length) {
      var empty = document.createElement("tr"), cell = document.createElement("td");
      cell.colSpan = 5; cell.className = "muted"; cell.textContent = "The answer holds no mask, box or class to draw.";
      empty.appendChild(cell); tbody.appendChild(empty);
    }
    drawing.items.forEach(function (it, i) {
      var tr = document.createElement("tr");
      tr.dataset.item = String(i);
      var sw = document.createElement("td");
      var chip = document.createElement("span");
      chip.className = "swatch"; chip.style.background = it.colour;
      sw.appendChild(chip);
      tr.appendChild(sw);
      var where = it.kind === "box" && it.box ? "box " + [it.box.xmin, it.box.ymin, it.box.xmax, it.box.ymax].join(", ")
                : it.kind === "class" ? "class " + it.classId : "mask";
      [it.label === undefined ? "(missing)" : String(it.label), fmtScore(it.score), where,
       it.area === undefined ? (it.error || "—") : String(it.area) + " px"].forEach(function (text) {
        var td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      });
      tr.addEventListener("mouseenter", function () { drawing.highlight(i); mark(tbody, i); });
      tr.addEventListener("mouseleave", function () { drawing.highlight(null); mark(tbody, null); });
      tbody.appendChild(tr);
    });
  }

  function mark(tbody, i) {
    Array.prototype.forEach.call(tbody.querySelectorAll("tr"), function (tr) {
      tr.classList.toggle("hot", i !== null && tr.dataset.item === String(i));
    });
  }

  global.VisionDraw = {render: render, describe: describe, itemsTable: itemsTable, mark: mark, loadImage: loadImage,
                       itemForPath: itemForPath, PALETTE: PALETTE};
})(typeof window !== "undefined" ? window : this);
