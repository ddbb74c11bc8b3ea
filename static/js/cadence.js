// Site-wide htmx settings live here, not in inline scripts, so a strict
// Content-Security-Policy can forbid inline code.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.historyCacheSize = 0;
  htmx.config.allowEval = false;
  htmx.config.includeIndicatorStyles = false;
});
