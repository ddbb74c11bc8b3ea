// The day plan: ask the phone where it is only when the route starts or ends "where I am" (or
// the rep saves it as home base), then draw the ordered stops on the map.
(function () {
  function locate(form, status, latName, lngName, onDone) {
    if (!navigator.geolocation) {
      status.textContent = "This browser cannot tell where you are: choose your home base or office.";
      return;
    }
    status.textContent = "Finding where you are…";
    navigator.geolocation.getCurrentPosition(
      function (position) {
        form.elements[latName].value = position.coords.latitude.toFixed(6);
        form.elements[lngName].value = position.coords.longitude.toFixed(6);
        onDone();
      },
      function (error) {
        status.textContent =
          error.code === error.PERMISSION_DENIED
            ? "Location is off for this site: allow it, or choose your home base or office."
            : "Your position could not be found: try again, or choose another place.";
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var status = document.getElementById("route-status");
    if (form.id === "route-form") {
      var wantsHere = form.elements.start.value === "here" || form.elements.end.value === "here";
      if (!wantsHere) {
        form.elements.lat.value = "";
        form.elements.lng.value = "";
        return;
      }
      if (form.dataset.located) return;
      event.preventDefault();
      locate(form, status, "lat", "lng", function () {
        form.dataset.located = "1";
        form.submit();
      });
    } else if (form.id === "home-form" && !form.dataset.located) {
      event.preventDefault();
      locate(form, status, "lat", "lng", function () {
        form.dataset.located = "1";
        form.submit();
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("route-map");
    var data = document.getElementById("route-points");
    if (!element || !data || !window.L || !window.CadenceMap) return;
    var points = JSON.parse(data.textContent);
    var COLOURS = {
      start: "#37474f",
      end: "#37474f",
      meeting: "#1565c0",
      suggested: "#ef6c00",
      unreachable: "#c62828",
    };
    var map = CadenceMap.draw(element, points, COLOURS, ["start", "end"], 14);
    // The line follows the route; an unreachable meeting is a marker off it.
    var line = points
      .filter(function (point) { return point[3] !== "unreachable"; })
      .map(function (point) { return [point[0], point[1]]; });
    L.polyline(line, { color: "#1565c0", weight: 3, opacity: 0.7 }).addTo(map);
  });
})();
