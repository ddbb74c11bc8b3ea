// The accounts map: Leaflet with clustered markers, points from the map's JSON endpoint (the
// account list's filters), coloured by state (or, for managers, by salesperson).
document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("map");
  if (!element || !window.L) return;
  var STATE_COLOURS = ["#c62828", "#ef6c00", "#6a1b9a", "#2e7d32"];
  var map = L.map(element, { preferCanvas: true }).setView([54.0, -2.5], 6);
  L.tileLayer(element.dataset.tiles, {
    maxZoom: 19,
    attribution: element.dataset.attribution,
  }).addTo(map);
  var byRep = false;
  // A cluster takes the colour of its most urgent account (the legend's states, most urgent
  // first), never the library's count colours: a green cluster must mean all fine.
  var clusters = L.markerClusterGroup({
    chunkedLoading: true,
    showCoverageOnHover: false,
    iconCreateFunction: function (cluster) {
      var children = cluster.getAllChildMarkers();
      var worst = children.reduce(function (most, marker) {
        return Math.min(most, marker.options.state);
      }, STATE_COLOURS.length - 1);
      var size = "cluster-" + (children.length < 10 ? "small" : children.length < 100 ? "medium" : "large");
      var kind = byRep ? "by-rep" : "state-" + worst;
      return L.divIcon({
        html: "<span>" + children.length + "</span>",
        className: "map-cluster " + kind + " " + size,
        iconSize: L.point(36, 36),
      });
    },
  });
  map.addLayer(clusters);
  var data = null;
  var colourBy = document.getElementById("colour-by");
  var count = document.getElementById("map-count");

  function repColour(ownerId) {
    var hue = (Number(ownerId) * 137) % 360;
    return "hsl(" + hue + ", 65%, 42%)";
  }

  function accountUrl(id) {
    return element.dataset.accountUrl.replace(/0\/$/, id + "/");
  }

  function draw() {
    clusters.clearLayers();
    byRep = !!(colourBy && colourBy.value === "rep");
    var markers = data.points.map(function (point) {
      var colour = byRep ? repColour(point[4]) : STATE_COLOURS[point[3]];
      var marker = L.circleMarker([point[1], point[2]], {
        radius: 7, color: "#fff", weight: 1, fillColor: colour, fillOpacity: 0.9, state: point[3],
      });
      var link = document.createElement("a");
      link.href = accountUrl(point[0]);
      link.textContent = point[5];
      var line = document.createElement("div");
      line.appendChild(link);
      var detail = document.createElement("div");
      detail.className = "muted small";
      detail.textContent = data.states[point[3]] + (point[4] ? " · " + (data.owners[point[4]] || "") : "");
      line.appendChild(detail);
      marker.bindPopup(line);
      return marker;
    });
    clusters.addLayers(markers);
    count.textContent = data.points.length + " accounts on the map";
    if (data.points.length) {
      map.fitBounds(L.latLngBounds(data.points.map(function (p) { return [p[1], p[2]]; })), {
        maxZoom: 13,
      });
    }
  }

  fetch(element.dataset.points, { headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    })
    .then(function (json) { data = json; draw(); })
    .catch(function () { count.textContent = "The map's accounts could not be loaded."; });
  if (colourBy) colourBy.addEventListener("change", function () { if (data) draw(); });
});
