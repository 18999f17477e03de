/* vision-contracts inspector: the admin API with the admin token, if the server has one.
   The token is asked once (a form appears on a 401), kept in this tab's sessionStorage and sent as
   "Authorization: Bearer TOKEN" on every call to /__vision__/ui/api/. */
(function (global) {
  "use strict";
  var KEY = "vision-admin-token";
  var waiting = null;

  function token() { try { return global.sessionStorage.getItem(KEY); } catch (e) { return null; } }

  function askToken(message) {
    if (waiting) return waiting;
    var box = document.getElementById("token-box");
    var form = document.getElementById("token-form");
    var note = document.getElementById("token-note");
    box.hidden = false;
    note.textContent = message;
    waiting = new Promise(function (resolve) {
      form.onsubmit = function (ev) {
        ev.preventDefault();
        var value = document.getElementById("token-input").value.trim();
        try { global.sessionStorage.setItem(KEY, value); } catch (e) { /* private mode: kept for this call only */ }
        box.hidden = true;
        waiting = null;
        resolve(value);
      };
    });
    return waiting;
  }

  function call(url, asBlob) {
    var headers = {};
    var t = token();
    if (t) headers.Authorization = "Bearer " + t;
    return fetch(url, {headers: headers, cache: "no-store"}).then(function (r) {
      if (r.status === 401) {
        return askToken(t ? "The admin token was refused; enter the server's --admin-token again." :
                            "This server has an admin token (--admin-token): enter it to read the journal.")
          .then(function () { return call(url, asBlob); });
      }
      if (!r.ok) {
        return r.text().then(function (text) {
          var detail = text;
          try { detail = JSON.parse(text).detail || text; } catch (e) { /* not JSON */ }
          throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
        });
      }
      return asBlob ? r.blob() : r.json();
    });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  global.VisionApi = {json: function (url) { return call(url, false); }, blob: function (url) { return call(url, true); },
                      el: el, TOKEN_KEY: KEY};
})(window);
