// Forms marked data-position (check-in) send the phone's position with them: asked on the tap,
// once; without permission or signal the form is sent without it (the time is still kept).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-position") || form.dataset.located || !navigator.geolocation) return;
  event.preventDefault();
  var send = function () { form.dataset.located = "1"; form.submit(); };
  navigator.geolocation.getCurrentPosition(
    function (position) {
      form.elements.latitude.value = position.coords.latitude.toFixed(6);
      form.elements.longitude.value = position.coords.longitude.toFixed(6);
      if (form.elements.accuracy) form.elements.accuracy.value = Math.round(position.coords.accuracy);
      send();
    },
    send,
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 }
  );
});
