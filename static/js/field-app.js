// The offline page (docs/offline.md): renders the phone's copy of the day (field pack) and puts
// what the rep does into the outbox, from where field-store.js sends it. Text goes in with
// textContent only; nothing from the data is ever parsed as HTML.
(function () {
  "use strict";
  const field = window.CadenceField;
  const form = window.CadenceFieldForm;
  if (!field || !form) return;
  const $ = (id) => document.getElementById(id);
  const { element, localDay, timeOf } = form;
  let pack = null;

  function button(label, onClick) {
    const made = element("button", label, { type: "button" });
    made.addEventListener("click", onClick);
    return made;
  }

  function account(id) {
    return pack && pack.accounts.find((item) => item.id === id);
  }

  function briefOf(item, container) {
    if (!item) return;
    if (item.address) container.append(element("p", item.address));
    if (item.phone) {
      const line = element("p");
      line.append(element("a", item.phone, { href: `tel:${item.phone}` }));
      container.append(line);
    }
    if (item.contacts.length) {
      const list = element("ul", null, { class: "plain" });
      item.contacts.forEach((contact) => {
        const row = element("li", `${contact.name}${contact.title ? `, ${contact.title}` : ""}${contact.is_primary ? " (primary)" : ""} `);
        if (contact.phone) row.append(element("a", contact.phone, { href: `tel:${contact.phone}` }));
        list.append(row);
      });
      container.append(list);
    }
    if (item.last_visit) {
      const last = item.last_visit;
      const said = element("p", `Last visit ${last.visited_at.slice(0, 10)}: ${last.notes || "no notes"}`);
      // The pack carries an excerpt of long notes; the whole visit is a page away (with signal).
      if (last.notes_truncated && last.url) said.append(" ", element("a", "Read all", { href: last.url }));
      container.append(said);
      if (last.next_step) container.append(element("p", `Next step: ${last.next_step}`));
    }
    if (item.open_flags.length) {
      container.append(element("p", `Flags: ${item.open_flags.join(", ").replaceAll("_", " ")}`, { class: "warn" }));
    }
    (item.open_asks || []).forEach((ask) => {
      container.append(element("p", `Asked for (answer by ${ask.due_on}): ${ask.text}`, { class: "ask" }));
    });
    item.overdue_invoices.forEach((invoice) => {
      container.append(element("p", `Overdue invoice ${invoice.number}: ${invoice.amount} ${invoice.currency}, due ${invoice.due_on}`, { class: "warn" }));
    });
  }

  function meetingRow(meeting) {
    const row = $("field-meeting").content.firstElementChild.cloneNode(true);
    const slot = (name) => row.querySelector(`[data-slot="${name}"]`);
    slot("time").textContent = timeOf(meeting.scheduled_start || meeting.visited_at);
    slot("name").textContent = meeting.customer_name;
    if (meeting.status !== "planned") {
      slot("state").textContent = meeting.status;
      slot("state").hidden = false;
    }
    const item = account(meeting.customer);
    briefOf(item, slot("brief"));
    if (meeting.purpose) slot("brief").prepend(element("p", meeting.purpose));
    if (meeting.status === "planned") {
      if (!meeting.checked_in_at) slot("actions").append(button("Check in", () => checkIn(meeting)));
      slot("actions").append(button("Log visit", () => form.open("log", item, meeting)));
    }
    return row;
  }

  function accountRow(item, showDue) {
    const row = $("field-account").content.firstElementChild.cloneNode(true);
    const slot = (name) => row.querySelector(`[data-slot="${name}"]`);
    slot("name").textContent = item.name;
    if (showDue && item.days_overdue !== null) {
      slot("due").textContent = item.days_overdue > 0 ? `${item.days_overdue} days overdue` : "due soon";
    }
    briefOf(item, slot("brief"));
    slot("actions").append(
      button("Log visit", () => form.open("log", item)),
      button("Plan", () => form.open("plan", item)),
      button("Support case", () => form.open("case", item)),
      button("Note", () => form.open("note", item)),
    );
    return row;
  }

  function fill(listId, rows, empty) {
    const list = $(listId);
    list.replaceChildren(...rows);
    if (!rows.length) list.append(element("li", empty, { class: "empty" }));
  }

  function renderAccounts() {
    const query = $("field-search").value.trim().toLowerCase();
    const found = pack.accounts.filter(
      (item) => !query || item.name.toLowerCase().includes(query) || item.code.toLowerCase().includes(query),
    );
    fill("field-accounts", found.slice(0, 30).map((item) => accountRow(item, false)), "No account kept on this phone matches.");
  }

  async function renderPack() {
    pack = await field.pack();
    const status = $("field-status");
    if (!pack) {
      status.textContent = navigator.onLine
        ? "Nothing is kept on this phone yet: it is being fetched."
        : "Nothing is kept on this phone yet: open Cadence once with signal.";
      return;
    }
    const synced = new Date(pack.syncedAt);
    const when = `${localDay(synced)} ${timeOf(pack.syncedAt)}`;
    status.textContent = navigator.onLine
      ? `Online. Kept on this phone: your day as of ${when}.`
      : `Offline: showing what this phone kept at ${when}. What you do is saved here and sent when the signal returns.`;
    const today = localDay(new Date());
    const tomorrow = localDay(new Date(Date.now() + 86400000));
    const on = (day) => pack.meetings.filter((m) => localDay(new Date(m.scheduled_start || m.visited_at)) === day);
    fill("field-today", on(today).map(meetingRow), "No meetings today.");
    fill("field-tomorrow", on(tomorrow).map(meetingRow), "No meetings tomorrow.");
    const who = pack.who_to_visit.map(account).filter(Boolean);
    fill("field-who", who.map((item) => accountRow(item, true)), "Nobody is due.");
    renderAccounts();
  }

  function summary(entry) {
    const body = entry.body;
    return [form.kindLabels[body.kind] || body.kind, body.visited_at && `at ${localDay(new Date(body.visited_at))} ${timeOf(body.visited_at)}`, body.notes, body.next_step && `next: ${body.next_step}`, body.purpose, body.note, body.text]
      .filter(Boolean)
      .join(" · ");
  }

  async function renderOutbox() {
    const entries = await field.outbox();
    const section = $("field-outbox");
    section.hidden = entries.length === 0;
    const waiting = entries.filter((entry) => entry.state === "waiting").length;
    const attention = entries.length - waiting;
    $("field-outbox-title").textContent = [
      waiting ? `Waiting to sync (${waiting})` : "",
      attention ? `Needs you (${attention})` : "",
    ]
      .filter(Boolean)
      .join(" · ");
    const rows = entries.map((entry) => {
      const row = element("li", null, { class: `outbox-${entry.state}` });
      row.append(element("strong", entry.title), element("div", `Yours: ${summary(entry)}`, { class: "small" }));
      if (entry.state === "conflict") {
        const current = entry.current || {};
        const now = [`Now: ${current.status || "changed"}`, current.cancel_reason, current.notes].filter(Boolean).join(" · ");
        row.append(element("div", entry.error, { class: "small warn" }), element("div", now, { class: "small" }));
        if (entry.kind === "log") row.append(button("Log it as a visit anyway", () => logAnyway(entry)));
      } else if (entry.state === "refused") {
        row.append(element("div", entry.error, { class: "small error" }));
      } else {
        row.append(element("div", "Waiting", { class: "small muted" }));
      }
      row.append(
        button("Discard", async () => {
          if (window.confirm(`Discard “${entry.title}”? It was not saved on the server.`)) {
            await field.remove("outbox", entry.id);
            await refresh();
          }
        }),
      );
      return row;
    });
    $("field-outbox-list").replaceChildren(...rows);
  }

  async function logAnyway(entry) {
    const meeting = entry.current || {};
    await field.put("outbox", {
      ...entry,
      url: "/api/v1/visits/log/",
      body: { ...entry.body, customer: meeting.customer, client_uuid: entry.id },
      state: "waiting",
      error: "",
      title: `${entry.title} (as a new visit)`,
    });
    await send();
  }

  function checkIn(meeting) {
    const at = new Date().toISOString();
    const save = (latitude, longitude, accuracy) =>
      queue({
        kind: "check_in",
        title: `Check-in at ${meeting.customer_name}`,
        url: `/api/v1/visits/${meeting.id}/check-in/`,
        body: { latitude, longitude, accuracy, at },
      });
    if (!navigator.geolocation) return save(null, null, null);
    navigator.geolocation.getCurrentPosition(
      (position) => save(position.coords.latitude, position.coords.longitude, position.coords.accuracy),
      () => save(null, null, null),
      { timeout: 8000, maximumAge: 60000 },
    );
  }

  async function queue(entry) {
    await field.add(entry);
    await send();
  }

  async function send() {
    await refresh();
    // Tried whatever navigator.onLine says; the outbox keeps what cannot be sent.
    await field.flush();
    await refresh();
  }

  async function refresh() {
    await renderOutbox();
    if (window.CadenceFieldPage) await window.CadenceFieldPage.showCount();
  }

  $("field-form-element").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("field-form-error");
    if (!event.target.checkValidity()) {
      error.textContent = "Fill in the marked fields.";
      error.hidden = false;
      event.target.reportValidity();
      return;
    }
    let entry;
    try {
      entry = form.entry();
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
      return;
    }
    form.close();
    await queue(entry);
  });
  $("field-form-cancel").addEventListener("click", form.close);
  $("field-search").addEventListener("input", () => pack && renderAccounts());
  if ("BroadcastChannel" in window) {
    new BroadcastChannel(field.CHANNEL).addEventListener("message", (event) => {
      if (event.data.type === "pack") renderPack();
      else renderOutbox();
    });
  }
  window.addEventListener("online", () => renderPack());
  window.addEventListener("offline", () => renderPack());
  renderPack().then(renderOutbox);
})();
