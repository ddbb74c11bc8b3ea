// What the field app keeps on the phone (IndexedDB "cadence-field"), shared by the pages and the
// service worker (docs/offline.md):
// - "pack": the last field pack from /api/v1/field-pack/ (meetings, briefs, who to visit);
// - "outbox": writes made offline, each with its own UUID (sent as the Idempotency-Key and, for
//   visits, the client_uuid), sent in the order they were made; one the server refuses stays,
//   marked, until the rep deals with it: nothing is dropped without the rep saying so;
// - "meta": the signed-in user and their session's CSRF token (the worker cannot read the page).
// Everything is marked with the user it belongs to: on a phone two people share, one never sees
// the other's accounts, and one's unsent work is never sent under the other's name.
(function (scope) {
  "use strict";
  const DB_NAME = "cadence-field";
  const SYNC_TAG = "cadence-outbox";
  const CHANNEL = "cadence-field";
  let opening = null;

  function open() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          const db = request.result;
          db.createObjectStore("pack");
          db.createObjectStore("meta");
          db.createObjectStore("outbox", { keyPath: "id" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return opening;
  }

  async function run(storeName, mode, action) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(storeName, mode);
      const request = action(transaction.objectStore(storeName));
      transaction.oncomplete = () => resolve(request ? request.result : undefined);
      transaction.onerror = () => reject(transaction.error);
    });
  }

  const get = (store, key) => run(store, "readonly", (s) => s.get(key));
  const put = (store, value, key) =>
    run(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
  const remove = (store, key) => run(store, "readwrite", (s) => s.delete(key));
  const all = (store) => run(store, "readonly", (s) => s.getAll());

  function announce(message) {
    if ("BroadcastChannel" in scope) new BroadcastChannel(CHANNEL).postMessage(message);
  }

  function uuid() {
    if (scope.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  const currentUser = () => get("meta", "user");

  async function outbox() {
    const user = await currentUser();
    const entries = (await all("outbox")).filter((entry) => entry.userId === user);
    return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async function add(entry) {
    const made = {
      id: uuid(),
      createdAt: new Date().toISOString(),
      state: "waiting",
      userId: await currentUser(),
      ...entry,
    };
    if (made.visit) made.body = { ...made.body, client_uuid: made.id };
    await put("outbox", made);
    announce({ type: "outbox" });
    if (scope.registration === undefined && navigator.serviceWorker) {
      try {
        const registration = await navigator.serviceWorker.ready;
        if (registration.sync) await registration.sync.register(SYNC_TAG);
      } catch (error) {
        // No Background Sync (Safari, Firefox): the pages send on open and when back online.
      }
    }
    return made;
  }

  function describe(error) {
    if (!error) return "The server refused it.";
    const fields = Object.entries(error.fields || {}).map(
      ([name, messages]) => `${name.replaceAll("_", " ")}: ${[].concat(messages).join(" ")}`,
    );
    return [error.message, ...fields].filter(Boolean).join(" ");
  }

  let flushed = Promise.resolve();

  // Sends the waiting writes in order. Stops at the first one that cannot be sent now (no
  // signal, signed out, server trouble) so the order is kept; a conflict (409) or a refusal is
  // kept with the server's answer for the rep to see. Each call makes a pass of its own after
  // the one in flight: a pass that started without signal must not answer for one asked for
  // when the signal came back.
  function flush() {
    const pass = flushed.then(sendWaiting, sendWaiting);
    flushed = pass.catch(() => undefined);
    return pass;
  }

  async function sendWaiting() {
    const result = { sent: 0, stopped: "" };
    const token = await get("meta", "csrf");
    for (const entry of await outbox()) {
      if (entry.state !== "waiting") continue;
      let response;
      try {
        response = await fetch(entry.url, {
          method: entry.method || "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            "Idempotency-Key": entry.id,
            "X-CSRFToken": token || "",
          },
          body: JSON.stringify(entry.body),
        });
      } catch (error) {
        result.stopped = "offline";
        break;
      }
      if (response.ok) {
        await remove("outbox", entry.id);
        result.sent += 1;
        continue;
      }
      let answer = {};
      try {
        answer = await response.json();
      } catch (error) {
        answer = {};
      }
      const error = answer.error || {};
      if (response.status === 401 || (response.status === 403 && /CSRF/i.test(error.message))) {
        // The session is gone: the accounts leave the phone (unsent work stays, for this rep).
        await remove("pack", "current");
        result.stopped = "signed-out";
        break;
      }
      if (response.status === 409) {
        await put("outbox", { ...entry, state: "conflict", error: describe(error), current: error.current });
      } else if ([400, 403, 404, 415, 422].includes(response.status)) {
        await put("outbox", { ...entry, state: "refused", error: describe(error) });
      } else {
        result.stopped = "server";
        break;
      }
    }
    await put("meta", { at: new Date().toISOString(), ...result }, "lastFlush");
    announce({ type: "outbox", ...result });
    return result;
  }

  async function syncPack() {
    const response = await fetch("/api/v1/field-pack/", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401 || response.status === 403) {
      // Signed out elsewhere, or the session expired: what the phone kept of the accounts is
      // no longer this browser's to show (docs/offline.md). Unsent work stays, for this rep.
      await remove("pack", "current");
      announce({ type: "pack" });
      throw new Error("field pack: signed out");
    }
    if (!response.ok) throw new Error(`field pack: HTTP ${response.status}`);
    const pack = await response.json();
    pack.syncedAt = new Date().toISOString();
    pack.userId = await currentUser();
    await put("pack", pack, "current");
    announce({ type: "pack" });
    return pack;
  }

  // Whether Cadence itself answers now. navigator.onLine says only whether the phone has a
  // network (a host with loopback only says false while the server is right there; a captive
  // Wi-Fi says true while nothing gets through), so a request is the test: any answer from
  // Cadence (it carries X-Request-ID) is signal.
  async function reachable() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 4000);
    try {
      const response = await fetch("/healthz", { cache: "no-store", signal: controller.signal });
      return response.headers.has("X-Request-ID");
    } catch (error) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  scope.CadenceField = {
    reachable,
    SYNC_TAG,
    CHANNEL,
    get,
    put,
    remove,
    outbox,
    add,
    flush,
    syncPack,
    pack: async () => {
      const pack = await get("pack", "current");
      return pack && pack.userId === (await currentUser()) ? pack : undefined;
    },
    forgetPack: () => remove("pack", "current"),
    signedIn: async (user, token) => {
      await put("meta", user, "user");
      await put("meta", token, "csrf");
    },
  };
})(self);
