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

document.addEventListener("DOMContentLoaded", function () {
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
