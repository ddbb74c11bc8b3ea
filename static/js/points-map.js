// A small Leaflet map of labelled points ([latitude, longitude, label, kind], from a
// json_script element), coloured by kind: the route's stops and Near me's accounts.
window.CadenceMap = {
  // `small`: the kinds drawn as smaller markers (places rather than accounts).
  draw: function (element, points, colours, small, maxZoom) {
    var map = L.map(element, { preferCanvas: true });
    L.tileLayer(element.dataset.tiles, {
      maxZoom: 19,
      attribution: element.dataset.attribution,
    }).addTo(map);
    points.forEach(function (point) {
      L.circleMarker([point[0], point[1]], {
        radius: small.indexOf(point[3]) >= 0 ? 6 : 9,
        color: "#fff",
        weight: 2,
        fillColor: colours[point[3]],
        fillOpacity: 0.95,
      })
        .bindTooltip(point[2])
        .addTo(map);
    });
    var everywhere = points.map(function (point) { return [point[0], point[1]]; });
    map.fitBounds(L.latLngBounds(everywhere), { padding: [24, 24], maxZoom: maxZoom });
    return map;
  },
};
