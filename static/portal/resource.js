// Resource pages (issue 13): the copy buttons of the Essentials panel and the "select all" box of a
// list's selection column. No inline handlers (the Content-Security-Policy allows none): behaviour is
// read from data attributes, and re-bound after htmx swaps a table.
(function () {
  "use strict";

  function copyText(button) {
    var text = button.getAttribute("data-copy") || "";
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("data-copied", "true");
      window.setTimeout(function () { button.textContent = label; button.removeAttribute("data-copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (button) {
      event.preventDefault();
      copyText(button);
    }
  });

  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("input[data-select-all]")) return;
    var name = all.getAttribute("data-select-all");
    var table = all.closest("table");
    if (!table) return;
    table.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
