// Cadence's field app worker (docs/offline.md). Pages come from the network while there is
// one; without signal, any page of the app shows the offline page, which renders the data kept
// on the phone. Writes made offline wait in the outbox (field-store.js) and are sent when the
// connection returns: by Background Sync where the browser has it, else by the pages.
const CONFIG = {{ config|safe }};
const CACHE = `cadence-field-${CONFIG.version}`;

importScripts(CONFIG.store);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([CONFIG.offlinePage, ...CONFIG.assets]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("cadence-field-") && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function fromNetworkElseOffline(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const cache = await caches.open(CACHE);
    return (await cache.match(CONFIG.offlinePage)) || Response.error();
  }
}

async function fromCacheElseNetwork(request) {
  const cached = await caches.match(request);
  return cached || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fromNetworkElseOffline(request));
  } else if (CONFIG.assets.includes(url.pathname)) {
    event.respondWith(fromCacheElseNetwork(request));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag === CadenceField.SYNC_TAG) {
    event.waitUntil(CadenceField.flush());
  }
});

// Reminders pushed by the server (accounts.push): a meeting coming, a follow-up or an ask due.
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (error) {
    message = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(message.title || "Cadence", {
      body: message.body || "",
      tag: message.tag || undefined,
      data: { url: message.url || "/" },
      icon: CONFIG.icon,
    }),
  );
});

// Tapping a reminder opens what it is about: in a window of the app already open, else a new one.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => "navigate" in client);
      if (open) return open.navigate(target.href).then((client) => (client || open).focus());
      return self.clients.openWindow(target.href);
    }),
  );
});
