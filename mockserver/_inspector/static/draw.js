/* vision-contracts inspector: draws a provider's answer over its input image on a canvas.
   Shared by the inspector's entry page and the conformance run's HTML report (inlined there). No dependencies.

   VisionDraw.render(canvas, image, answer, {provider, operation, params, roles}) -> Promise<Drawing>
     image: an HTMLImageElement already loaded (or null: the answer is drawn on a blank canvas of the masks' size)
     roles: a contract pack's response roles (its operation index's roles.response); when given, the answer is read
       by them: items, label, score, box (xyxy/xywh/cxcywh, pixels/normalized, keys or array), polygon (pair/object
       points), mask (png-base64, COCO RLE plain or compressed counts), class-map-mask with class-names
     Drawing.items: [{index, kind: "mask"|"box"|"class"|"polygon", label, score, colour, area, box, path}]
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


  /* --- answers read by a contract pack's roles ---------------------------------------------------------------- */

  function tokens(pointer) {
    if (!pointer) return [];
    return String(pointer).split("/").slice(1).map(function (t) { return t.replace(/~1/g, "/").replace(/~0/g, "~"); });
  }

  function at(value, pointer) {
    var parts = tokens(pointer);
    for (var i = 0; i < parts.length; i++) {
      if (value === null || typeof value !== "object") return undefined;
      value = value[Array.isArray(value) ? Number(parts[i]) : parts[i]];
    }
    return value;
  }

  function jsonPath(pointer) {
    return "$" + tokens(pointer).map(function (t) { return /^\d+$/.test(t) ? "[" + t + "]" : (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(t) ? "." + t : "[\"" + t + "\"]"); }).join("");
  }

  /* A box role's four numbers as {xmin, ymin, xmax, ymax} in pixels of a width x height image. */
  function roleBox(node, option, width, height) {
    var keys = option.keys, v = keys ? keys.map(function (k) { return node && typeof node === "object" ? num(node[k]) : null; })
                                   : (Array.isArray(node) ? node.slice(0, 4).map(num) : [null, null, null, null]);
    if (v.length !== 4 || v.some(function (x) { return x === null; })) return {xmin: null, ymin: null, xmax: null, ymax: null};
    var x0 = v[0], y0 = v[1], x1 = v[2], y1 = v[3];
    if (option.format === "xywh") { x1 = x0 + v[2]; y1 = y0 + v[3]; }
    if (option.format === "cxcywh") { x0 = v[0] - v[2] / 2; y0 = v[1] - v[3] / 2; x1 = v[0] + v[2] / 2; y1 = v[1] + v[3] / 2; }
    var sx = option.units === "normalized" ? width : 1, sy = option.units === "normalized" ? height : 1;
    return {xmin: x0 * sx, ymin: y0 * sy, xmax: x1 * sx, ymax: y1 * sy};
  }

  function rolePoints(node, option, width, height) {
    var sx = option.units === "normalized" ? width : 1, sy = option.units === "normalized" ? height : 1;
    return (Array.isArray(node) ? node : []).map(function (p) {
      var x = Array.isArray(p) ? num(p[0]) : (p && typeof p === "object" ? num(p.x) : null);
      var y = Array.isArray(p) ? num(p[1]) : (p && typeof p === "object" ? num(p.y) : null);
      return x === null || y === null ? null : [x * sx, y * sy];
    }).filter(function (p) { return p !== null; });
  }

  /* COCO's compressed RLE string -> counts (the LEB128-like 5-bit groups, each count after the second a delta). */
  function rleCountsFromString(text) {
    var counts = [], p = 0;
    while (p < text.length) {
      var x = 0, k = 0, more = true;
      while (more) {
        var c = text.charCodeAt(p) - 48;
        x |= (c & 0x1f) << (5 * k);
        more = (c & 0x20) !== 0;
        p++; k++;
        if (!more && (c & 0x10)) x |= -1 << (5 * k);
      }
      if (counts.length > 2) x += counts[counts.length - 2];
      counts.push(x);
    }
    return counts;
  }

  /* A COCO RLE mask (column-major counts, zeros first) as row-major 0/255 values of width x height. */
  function rleValues(node, width, height) {
    if (!node || typeof node !== "object" || !Array.isArray(node.size)) return null;
    var h = node.size[0], w = node.size[1];
    var counts = typeof node.counts === "string" ? rleCountsFromString(node.counts) : node.counts;
    if (!Array.isArray(counts) || w !== width || h !== height) return null;
    var out = new Uint8Array(w * h), pos = 0;
    for (var i = 0; i < counts.length; i++) {
      var n = counts[i];
      if (i % 2 === 1) for (var j = pos; j < pos + n && j < w * h; j++) out[(j % h) * w + Math.floor(j / h)] = 255;
      pos += n;
    }
    return out;
  }

  function describeByRoles(answer, roles) {
    var items = [], item = roles.item || {}, list = roles.items === null || roles.items === undefined ? null : at(answer, roles.items);
    (Array.isArray(list) ? list : []).forEach(function (it, i) {
      var path = jsonPath(roles.items) + "[" + i + "]";
      var d = {index: i, path: path, label: item.label ? at(it, item.label.path) : undefined,
               score: item.score ? at(it, item.score.path) : undefined, kind: "box", roleItem: it};
      if (item.mask) {
        d.kind = "mask";
        var m = at(it, item.mask.path);
        if (item.mask.encoding === "png-base64") d.maskSrc = pngSrc(m); else d.rle = m;
        d.maskPath = path + jsonPath(item.mask.path).slice(1);
      } else if (item.polygon) {
        d.kind = "polygon";
      }
      if (item.label === undefined && item.score && typeof d.score === "number" && !item.box && !item.mask && !item.polygon) d.kind = "class-score";
      items.push(d);
    });
    var cmap = roles["class-map-mask"];
    if (cmap) {
      var names = roles["class-names"] ? at(answer, roles["class-names"].pointer) : null;
      var ids = names && typeof names === "object" ? Object.keys(names) : [];
      ids.forEach(function (id) {
        items.push({index: items.length, kind: "class", classId: Number(id), label: String(names[id]), score: null,
                    path: jsonPath(roles["class-names"].pointer) + "[\"" + id + "\"]",
                    maskSrc: pngSrc(at(answer, cmap.pointer)), maskPath: jsonPath(cmap.pointer)});
      });
    }
    return items;
  }

  /* Boxes, polygons and RLE masks of role items, once the canvas size is known. */
  function placeRoleItems(items, roles, width, height) {
    var item = (roles && roles.item) || {};
    items.forEach(function (it) {
      if (!it.roleItem) return;
      if (item.box) it.box = roleBox(item.box.path ? at(it.roleItem, item.box.path) : it.roleItem, item.box, width, height);
      if (item.polygon) it.polygon = rolePoints(at(it.roleItem, item.polygon.path), item.polygon, width, height);
      if (it.rle !== undefined) {
        var values = rleValues(it.rle, width, height);
        if (!values) { it.error = "the RLE mask does not fit the image"; return; }
        var o = overlay(values, width, height, it.colour, function (v) { return v > 0; });
        it.overlay = o.canvas; it.area = o.area;
      } else if (it.polygon && it.polygon.length >= 3 && !it.maskSrc) {
        var c = document.createElement("canvas");
        c.width = width; c.height = height;
        var ctx = c.getContext("2d");
        ctx.fillStyle = it.colour;
        ctx.beginPath();
        it.polygon.forEach(function (p, k) { if (k) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
        ctx.closePath(); ctx.fill();
        it.overlay = c;
      }
      if (it.kind === "box" && !it.box) it.error = "no box role";
    });
  }

  function render(canvas, image, answer, opts) {
    opts = opts || {};
    var described = opts.roles ? {items: describeByRoles(answer, opts.roles), points: []}
                               : describe(answer, opts.provider, opts.operation, opts.params || {});
    if (opts.roles) described.items.forEach(function (item, i) { item.colour = colourOf(i); });
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
        if (opts.roles) placeRoleItems(items, opts.roles, width, height);
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
          if (it.box && it.area === undefined && it.box.xmin !== null && it.box.xmax !== null && it.box.ymin !== null && it.box.ymax !== null) {
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
      if (!it.polygon || it.polygon.length < 2) return;
      ctx.globalAlpha = hi === null || hi === i ? 1 : 0.25;
      ctx.strokeStyle = it.colour;
      ctx.lineWidth = hi === i ? line * 2 : line;
      ctx.beginPath();
      it.polygon.forEach(function (p, k) { if (k) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
      ctx.closePath(); ctx.stroke();
      ctx.globalAlpha = 1;
    });
    drawing.items.forEach(function (it, i) {
      if (!it.box || it.box.xmin === null || it.box.xmax === null || it.box.ymin === null || it.box.ymax === null) return;
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
