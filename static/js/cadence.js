// Site-wide behaviour, kept out of inline scripts so a strict Content-Security-Policy can
// forbid inline code.
// Set before DOMContentLoaded: htmx reads includeIndicatorStyles in its own DOMContentLoaded
// handler, which runs first (its script loads first). Its <style> element would break the CSP;
// the indicator rules are in cadence.css instead.
if (window.htmx) {
  htmx.config.historyCacheSize = 0;
  htmx.config.allowEval = false;
  htmx.config.includeIndicatorStyles = false;
}

// After a save that failed, bring the first error into view: focus the first invalid field (or
// the message at the top of the form) and let screen readers announce it. On a phone the form
// can be far above where the user tapped Save.
function showFirstError(root) {
  var field = root.querySelector(
    ".has-error input:not([type=hidden]), .has-error select, .has-error textarea"
  );
  var target = field || root.querySelector("form .error[role=alert]");
  if (!target) return;
  var message = target.closest(".field") && target.closest(".field").querySelector(".error");
  if (message) message.setAttribute("role", "alert");
  if (!field) target.setAttribute("tabindex", "-1");
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

// On a phone the week is compact: each day other than today folds to its name and count.
function compactWeek(root) {
  if (window.innerWidth >= 640) return;
  root.querySelectorAll("details[data-compact]").forEach(function (day) {
    day.open = false;
  });
}

document.addEventListener("htmx:afterSettle", function (event) {
  showFirstError(event.detail.elt);
  compactWeek(event.detail.elt);
});

document.addEventListener("DOMContentLoaded", function () {
  showFirstError(document);
  compactWeek(document);
  if (!window.htmx) return;

  // Narrow screens get the day view of the schedule unless the URL asks for a view.
  var agenda = document.getElementById("agenda");
  var params = new URLSearchParams(window.location.search);
  if (agenda && agenda.dataset.dayUrl && !params.has("view") && window.innerWidth < 640) {
    htmx.ajax("GET", agenda.dataset.dayUrl, { target: "#agenda", swap: "outerHTML" });
  }
});

// A "Close" link in a panel form empties the panel instead of leaving the page.
document.addEventListener("click", function (event) {
  var link = event.target.closest("[data-close-panel]");
  var panel = link && link.closest(".panel");
  if (panel) {
    event.preventDefault();
    panel.innerHTML = "";
  }
});
