// Notifications on this device (docs/user-guide.md, "Reminders"): the browser subscribes to
// its push service with the server's VAPID key, and the server keeps the subscription.
(() => {
  const panel = document.getElementById("push-device");
  if (!panel) return;
  const status = panel.querySelector("[data-push-status]");
  const turnOn = panel.querySelector("[data-push-on]");
  const turnOff = panel.querySelector("[data-push-off]");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  function say(text) {
    status.textContent = text;
  }

  function show(subscribed) {
    turnOn.hidden = subscribed;
    turnOff.hidden = !subscribed;
  }

  function keyBytes(base64url) {
    const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4))
      .replace(/-/g, "+")
      .replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  async function registration() {
    const registered = await navigator.serviceWorker.register(panel.dataset.worker);
    if (registered.active) return registered;
    const worker = registered.installing || registered.waiting;
    await new Promise((resolve) => {
      worker.addEventListener("statechange", () => worker.state === "activated" && resolve());
    });
    return registered;
  }

  async function post(url, subscription) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(subscription),
      credentials: "same-origin",
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error || `The server answered ${response.status}.`);
    }
  }

  async function on() {
    turnOn.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        say("Notifications are blocked for Cadence in this browser's settings.");
        return;
      }
      const registered = await registration();
      const subscription =
        (await registered.pushManager.getSubscription()) ||
        (await registered.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(panel.dataset.key),
        }));
      await post(panel.dataset.subscribe, subscription.toJSON());
      say("Notifications are on for this device.");
      show(true);
    } catch (error) {
      say(`Notifications could not be turned on: ${error.message}`);
    } finally {
      turnOn.disabled = false;
    }
  }

  async function off() {
    turnOff.disabled = true;
    try {
      const registered = await registration();
      const subscription = await registered.pushManager.getSubscription();
      if (subscription) {
        await post(panel.dataset.unsubscribe, subscription.toJSON());
        await subscription.unsubscribe();
      }
      say("Notifications are off for this device.");
      show(false);
    } catch (error) {
      say(`Notifications could not be turned off: ${error.message}`);
    } finally {
      turnOff.disabled = false;
    }
  }

  async function start() {
    if (!("serviceWorker" in navigator && "PushManager" in window && "Notification" in window)) {
      say("This browser cannot show notifications from Cadence (on an iPhone, add Cadence to the Home Screen first).");
      return;
    }
    turnOn.addEventListener("click", on);
    turnOff.addEventListener("click", off);
    const registered = await navigator.serviceWorker.getRegistration(panel.dataset.worker);
    const subscription = registered && (await registered.pushManager.getSubscription());
    show(Boolean(subscription));
    say(subscription ? "Notifications are on for this device." : "Notifications are off for this device.");
  }

  start();
})();
