// "Near me": ask the browser where the rep stands (once, on a tap), then load the page for that
// position. The position travels in this one request's URL and is not stored by Cadence.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("locate");
  var status = document.getElementById("locate-status");
  if (!button) return;
  if (!navigator.geolocation) {
    button.disabled = true;
    status.textContent = "This browser cannot tell where you are: type a position below.";
    return;
  }
  button.addEventListener("click", function () {
    status.textContent = "Finding where you are…";
    navigator.geolocation.getCurrentPosition(
      function (position) {
        var km = new URLSearchParams(window.location.search).get("km") || "10";
        var query = new URLSearchParams({
          lat: position.coords.latitude.toFixed(5),
          lng: position.coords.longitude.toFixed(5),
          km: km,
        });
        window.location.assign(button.dataset.url + "?" + query.toString());
      },
      function (error) {
        status.textContent =
          error.code === error.PERMISSION_DENIED
            ? "Location is off for this site: allow it, or type a position below."
            : "Your position could not be found: try again, or type it below.";
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
});

// The accounts found, on a map around where the rep stands (red: overdue).
document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("near-map");
  var data = document.getElementById("near-points");
  if (!element || !data || !window.L || !window.CadenceMap) return;
  var points = JSON.parse(data.textContent);
  var COLOURS = { here: "#37474f", overdue: "#c62828", account: "#1565c0" };
  CadenceMap.draw(element, points, COLOURS, ["here"], 15);
});
