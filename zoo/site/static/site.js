// zoo catalog: filter and sort the index, copy commands. No framework; the pages work without it.
(function () {
  "use strict";
  var table = document.getElementById("models");
  if (table) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var q = document.getElementById("q"), count = document.getElementById("count"), empty = document.getElementById("empty");
    var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-facet]"));
    var filter = function () {
      var words = q.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
      rows.forEach(function (r) {
        var ok = words.every(function (w) { return r.dataset.q.indexOf(w) >= 0; }) && selects.every(function (s) {
          var v = s.value, have = r.dataset[s.dataset.facet];
          return !v || (s.dataset.facet === "target" ? (" " + have).indexOf(" " + v + " ") >= 0 : have === v);
        });
        r.hidden = !ok;
        if (ok) shown++;
      });
      count.textContent = shown + " shown";
      empty.hidden = shown > 0;
    };
    q.addEventListener("input", filter);
    selects.forEach(function (s) { s.addEventListener("change", filter); });
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var sort = function (col, desc) {
      var kind = heads[col].dataset.sort;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      heads[col].setAttribute("aria-sort", desc ? "descending" : "ascending");
      var key = function (r) { var v = r.cells[col].dataset.v; return kind === "num" ? parseFloat(v) : v.toLowerCase(); };
      rows.sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1); });
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r); });
      body.appendChild(frag);
    };
    heads.forEach(function (th, col) {
      if (!th.dataset.sort) return;
      th.querySelector("button").addEventListener("click", function () {
        sort(col, th.getAttribute("aria-sort") === "ascending");
      });
    });
    var sortBy = document.getElementById("sort");
    sortBy.addEventListener("change", function () { sort(+sortBy.value, false); });
    if (q.value || selects.some(function (s) { return s.value; })) filter();
  }
  var base = location.protocol.indexOf("http") === 0 ? new URL("..", location.href).href : null;
  Array.prototype.forEach.call(document.querySelectorAll("code[data-mirror]"), function (c) {
    if (base) c.textContent = "ZOO_MIRRORS=" + base + " " + c.dataset.mirror;
  });
  var copied = function (button) {
    button.classList.add("done");
    button.textContent = "copied";
    setTimeout(function () { button.classList.remove("done"); button.textContent = "copy"; }, 1500);
  };
  document.addEventListener("click", function (e) {
    var button = e.target.closest("button.copy");
    if (!button) return;
    var text = button.dataset.copy || button.previousElementSibling.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () { fallback(text, button); });
    } else {
      fallback(text, button);
    }
  });
  function fallback(text, button) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); copied(button); } catch (err) { /* nothing to copy with */ }
    document.body.removeChild(area);
  }
})();
