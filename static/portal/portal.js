/* What the templates ask of the browser, declared with data- attributes: the Content-Security-Policy of
 * every page allows scripts from this origin only and no eval, so no page has inline script, event-handler
 * attributes, htmx hx-on attributes or htmx trigger filters (all of which need one or the other).
 *
 *   <select data-submit-on-change>         submits its form when its value changes
 *   <form data-confirm="Delete …?">         asks before it is submitted (a person clicks OK or Cancel)
 *   <a href="/" data-history-back>          goes back in the history (the href is where it goes without one)
 *   <div data-swap-status="400">            htmx swaps answers with these statuses inside it too (a refused
 *                                           filter comes back as a 400 carrying its message)
 *   <div hx-trigger="matched-change"         a change of an element inside it matching the selector sends it
 *        data-change-when="selector">        the event "matched-change" (what change[target.matches(…)] did)
 *
 * A refusal htmx does not swap (a 4xx outside data-swap-status, e.g. the plain-text 400 of a NUL in a
 * query) is not silent: its message — the plain text, or an ARM error's message — is shown in the
 * request's target as an alert (as text, never as HTML): in place of its content, or above it for a poll.
 *
 * The frame (base.html, docs/frame.md): #menu-toggle opens and closes the navigation on narrow screens
 * (body.nav-open; Escape closes it), and opening the notifications (<details id="notifications">) sends
 * "notif-refresh" to the body, which the panel listens to (so it asks again even after polling stopped).
 */
(function () {
  "use strict";

  function closest(node, selector) {
    return node && node.closest ? node.closest(selector) : null;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-submit-on-change]") && target.form) {
      target.form.submit();
      return;
    }
    var host = closest(target, "[data-change-when]");
    if (host && window.htmx && target.matches(host.getAttribute("data-change-when"))) {
      window.htmx.trigger(host, "matched-change");
    }
  });

  // Capturing, so the question comes before htmx or anything else acts on the submission.
  document.addEventListener(
    "submit",
    function (event) {
      var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  document.addEventListener("click", function (event) {
    var link = closest(event.target, "a[data-history-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  var menu = document.getElementById("menu-toggle");
  function setMenu(open) {
    document.body.classList.toggle("nav-open", open);
    if (menu) menu.setAttribute("aria-expanded", open ? "true" : "false");
  }
  if (menu) {
    menu.addEventListener("click", function () {
      setMenu(!document.body.classList.contains("nav-open"));
    });
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("nav-open")) {
      setMenu(false);
      if (menu) menu.focus();
    }
  });

  var bell = document.getElementById("notifications");
  if (bell) {
    bell.addEventListener("toggle", function () {
      if (bell.open && window.htmx) window.htmx.trigger(document.body, "notif-refresh");
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var host = closest(event.target, "[data-swap-status]");
    if (!host || !event.detail.xhr) return;
    var statuses = host.getAttribute("data-swap-status").split(/[\s,]+/);
    if (statuses.indexOf(String(event.detail.xhr.status)) >= 0) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function refusalMessage(xhr) {
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    var text = (xhr.responseText || "").trim();
    if (type.indexOf("text/plain") === 0 && text) return text.slice(0, 500);
    if (type.indexOf("json") >= 0) {
      try {
        var data = JSON.parse(text);
        if (data && data.error && data.error.message) return String(data.error.message).slice(0, 500);
      } catch (e) { /* not JSON after all */ }
    }
    if (xhr.status === 404) return "Not found: it is gone, or you no longer have access to it.";
    if (xhr.status === 403) return "You do not have permission to do that.";
    return "The server refused the request (" + xhr.status + ").";
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var target = event.detail.target;
    if (!xhr || !target || xhr.status < 400 || xhr.status >= 500) return;
    var alert = document.createElement("p");
    alert.className = "error htmx-refusal";
    alert.setAttribute("role", "alert");
    alert.textContent = refusalMessage(xhr);
    var trigger = (event.detail.elt && event.detail.elt.getAttribute("hx-trigger")) || "";
    if (/\bevery\b/.test(trigger)) {
      // a poll: keep what it showed, with the refusal above it
      var previous = target.querySelector(":scope > .htmx-refusal");
      if (previous) previous.remove();
      target.insertBefore(alert, target.firstChild);
    } else {
      target.replaceChildren(alert);
    }
  });
})();
