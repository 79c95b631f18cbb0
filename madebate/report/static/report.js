(function () {
  function key(td) {
    var v = td.getAttribute("data-sort");
    if (v === null) { v = td.textContent; }
    var n = Number(v);
    return (v.trim() !== "" && !isNaN(n)) ? n : v.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = (typeof x === "number" && typeof y === "number") ? x - y
            : (typeof x === "number") ? -1 : (typeof y === "number") ? 1
            : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll(".filters").forEach(function (bar) {
    var list = bar.parentNode.querySelector("ul.discussions");
    var buttons = bar.querySelectorAll("button");
    buttons.forEach(function (b) {
      b.addEventListener("click", function () {
        var f = b.getAttribute("data-filter");
        buttons.forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        list.querySelectorAll("li[data-outcome]").forEach(function (li) {
          li.hidden = f !== "all" && li.getAttribute("data-outcome") !== f;
        });
      });
    });
  });
})();
