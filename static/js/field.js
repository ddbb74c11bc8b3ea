// On every page of the field app (docs/offline.md): installs the worker, keeps the phone's copy
// of the day fresh (at most every few minutes), sends what waits in the outbox when the page
// opens and when the connection returns, and shows "Waiting to sync (N)" in the header.
(function () {
  "use strict";
  const field = window.CadenceField;
  if (!field || !("indexedDB" in window)) return;
  const PACK_EVERY_MS = 5 * 60 * 1000;
  const body = document.body;
  const worker = body.dataset.fieldWorker;

  async function showCount() {
    const badge = document.getElementById("outbox-badge");
    if (!badge) return;
    const entries = await field.outbox();
    const waiting = entries.filter((entry) => entry.state === "waiting").length;
    const attention = entries.length - waiting;
    const parts = [];
    if (waiting) parts.push(`Waiting to sync (${waiting})`);
    if (attention) parts.push(`Needs you (${attention})`);
    badge.textContent = parts.join(" · ");
    badge.hidden = parts.length === 0;
    badge.classList.toggle("warn", attention > 0);
  }

  let freshening = Promise.resolve();

  function freshen(force) {
    freshening = freshening.then(() => freshenNow(force)).catch(() => undefined);
    return freshening;
  }

  async function freshenNow(force) {
    // Tried whatever navigator.onLine says: a failed request is what "no signal" means.
    const result = await field.flush();
    const pack = await field.pack();
    const stale = !pack || Date.now() - Date.parse(pack.syncedAt) > PACK_EVERY_MS;
    if (force || stale || result.sent > 0) {
      try {
        await field.syncPack();
      } catch (error) {
        // Signed out or no signal after all: the kept copy stays.
      }
    }
  }

  async function start() {
    // Who is signed in comes from the live pages only, never from the offline page's copy.
    let newUser = false;
    if (body.dataset.user) {
      newUser = (await field.get("meta", "user")) !== body.dataset.user;
      await field.signedIn(body.dataset.user, body.dataset.csrf);
    }
    // Signing out takes the accounts off the phone (unsent work stays, for this user only).
    const logout = document.querySelector("form.logout");
    if (logout) {
      logout.addEventListener("submit", async (event) => {
        if (logout.dataset.cleared) return;
        event.preventDefault();
        await freshening;
        await field.forgetPack();
        logout.dataset.cleared = "yes";
        logout.requestSubmit();
      });
    }
    if (worker && "serviceWorker" in navigator) {
      try {
        await navigator.serviceWorker.register(worker);
      } catch (error) {
        // No worker (private mode, old browser): the pages work online as before.
      }
    }
    if ("BroadcastChannel" in window) {
      new BroadcastChannel(field.CHANNEL).onmessage = showCount;
    }
    window.addEventListener("online", () => freshen(false).then(showCount));
    await showCount();
    await freshen(newUser);
    await showCount();
  }

  // The log and plan forms (data-offline: the API address that does the same) keep working
  // when the signal goes while the rep is filling them in: what they typed goes to the outbox.
  const SKIPPED = new Set(["csrfmiddlewaretoken", "submission", "next", "q"]);

  function bodyOf(form) {
    const body = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (SKIPPED.has(name) || value === "") continue;
      if (name === "contacts") body.contacts = [...(body.contacts || []), Number(value)];
      else if (name === "customer") body.customer = Number(value);
      else body[name] = value;
    }
    return body;
  }

  function kindOf(url) {
    if (url.includes("/log/")) return "log";
    return url.includes("/support-cases/") ? "case" : "plan";
  }

  async function keepOffline(form) {
    const body = bodyOf(form);
    if (form.dataset.offlineCustomer) body.customer = Number(form.dataset.offlineCustomer);
    const entry = await field.add({
      kind: kindOf(form.dataset.offline),
      visit: "offlineVisit" in form.dataset,
      title: form.dataset.offlineTitle,
      url: form.dataset.offline,
      body,
    });
    const note = document.createElement("p");
    note.className = "notice";
    note.setAttribute("role", "status");
    note.textContent =
      "No signal: saved on this phone. It is sent by itself when the signal returns.";
    form.replaceWith(note);
    await showCount();
    return entry;
  }

  // navigator.onLine false is only a hint: Cadence is asked before the form is kept offline.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!form.dataset || !form.dataset.offline || navigator.onLine) return;
      if (form.dataset.reachable) return;
      event.preventDefault();
      event.stopPropagation();
      field.reachable().then((yes) => {
        if (yes) {
          form.dataset.reachable = "yes";
          form.requestSubmit(event.submitter || undefined);
        } else {
          keepOffline(form);
        }
      });
    },
    true,
  );
  // Signal that says "online" but carries nothing: the htmx request fails. A form's input is
  // kept; anything else says where the day is without signal.
  document.body.addEventListener("htmx:sendError", (event) => {
    const source = event.detail.elt;
    const form = source.closest && source.closest("form[data-offline]");
    if (form) {
      keepOffline(form);
      return;
    }
    if (document.getElementById("no-signal")) return;
    const note = document.createElement("p");
    note.id = "no-signal";
    note.className = "notice";
    note.setAttribute("role", "alert");
    note.append("No signal. Your day is kept on this phone: ");
    const link = document.createElement("a");
    link.href = body.dataset.fieldOffline;
    link.textContent = "open it";
    note.append(link, ".");
    document.querySelector("main").prepend(note);
  });

  window.CadenceFieldPage = { showCount, freshen };
  start();
})();
