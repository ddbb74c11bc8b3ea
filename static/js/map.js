// The accounts map: Leaflet, points from the map's JSON endpoint (the account list's filters),
// coloured by state (or, for managers, by salesperson). A small book comes whole and is
// clustered here (markercluster); a large one is asked for by view: each pan or zoom asks the
// server for what is on screen, which answers clusters of a grid (count, worst state) and the
// accounts alone in their cell, so the map stays fast and small at any size of book.
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
  var whole = null;
  var data = null;
  var colourBy = document.getElementById("colour-by");
  var count = document.getElementById("map-count");

  function sizeClass(n) {
    return "cluster-" + (n < 10 ? "small" : n < 100 ? "medium" : "large");
  }

  function clusterIcon(n, worst) {
    return L.divIcon({
      html: "<span>" + n + "</span>",
      className: "map-cluster " + (byRep ? "by-rep" : "state-" + worst) + " " + sizeClass(n),
      iconSize: L.point(36, 36),
    });
  }

  // A cluster takes the colour of its most urgent account (the legend's states, most urgent
  // first), never the library's count colours: a green cluster must mean all fine.
  var clientClusters = L.markerClusterGroup({
    chunkedLoading: true,
    showCoverageOnHover: false,
    iconCreateFunction: function (cluster) {
      var children = cluster.getAllChildMarkers();
      var worst = children.reduce(function (most, marker) {
        return Math.min(most, marker.options.state);
      }, STATE_COLOURS.length - 1);
      return clusterIcon(children.length, worst);
    },
  });
  var serverLayer = L.layerGroup();
  map.addLayer(clientClusters);
  map.addLayer(serverLayer);

  function repColour(ownerId) {
    var hue = (Number(ownerId) * 137) % 360;
    return "hsl(" + hue + ", 65%, 42%)";
  }

  function accountUrl(id) {
    return element.dataset.accountUrl.replace(/0\/$/, id + "/");
  }

  function pointMarker(point) {
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
  }

  function draw() {
    byRep = !!(colourBy && colourBy.value === "rep");
    clientClusters.clearLayers();
    serverLayer.clearLayers();
    if (!whole) {
      clientClusters.addLayers(data.points.map(pointMarker));
      count.textContent = data.total + " accounts on the map";
      return;
    }
    data.clusters.forEach(function (cluster) {
      var marker = L.marker([cluster[0], cluster[1]], {
        icon: clusterIcon(cluster[2], cluster[3]),
        title: cluster[2] + " accounts",
      });
      marker.on("click", function () {
        map.setView([cluster[0], cluster[1]], Math.min(map.getZoom() + 2, 19));
      });
      serverLayer.addLayer(marker);
    });
    data.points.forEach(function (point) { serverLayer.addLayer(pointMarker(point)); });
    count.textContent = whole.total + " accounts on the map, " + data.total + " in view";
  }

  var pending = null;

  function load(query) {
    if (pending) pending.abort();
    pending = new AbortController();
    var url = element.dataset.points + (element.dataset.points.indexOf("?") < 0 ? "?" : "&") + query;
    return fetch(url, { headers: { Accept: "application/json" }, signal: pending.signal })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      });
  }

  function loadView() {
    load("bbox=" + map.getBounds().toBBoxString() + "&zoom=" + map.getZoom())
      .then(function (json) { data = json; draw(); })
      .catch(function (error) {
        if (error.name !== "AbortError") count.textContent = "The map's accounts could not be loaded.";
      });
  }

  load("")
    .then(function (json) {
      data = json;
      if (json.total > 0 && json.points.length < json.total) {
        whole = json;
        map.on("moveend", loadView);
      } else {
        draw();
      }
      if (json.extent && json.total) {
        var box = L.latLngBounds([json.extent.south, json.extent.west], [json.extent.north, json.extent.east]);
        map.fitBounds(box, { maxZoom: 13, animate: false });
      }
      if (whole) loadView();
    })
    .catch(function () { count.textContent = "The map's accounts could not be loaded."; });
  if (colourBy) colourBy.addEventListener("change", function () { if (data) draw(); });
});
