// The offline page's form (docs/offline.md): opens it for a log, plan, support case or note, and
// turns what was typed into an outbox entry for /api/v1/ (field-app.js queues and sends it).
// Defaults that are the server's (a follow-up's time) are left to the server. Text goes in with
// textContent only.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const VISIT_KINDS = [["on_site", "On site"], ["phone", "Phone"], ["video", "Video"], ["email", "Email"]];
  const MEETING_KINDS = VISIT_KINDS.slice(0, 3);
  const CASE_KINDS = [["complaint", "Complaint"], ["request", "Request"], ["order_issue", "Order issue"], ["other", "Other"]];
  let current = null;

  const pad = (n) => String(n).padStart(2, "0");
  const localDay = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const localInput = (date) => `${localDay(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const timeOf = (iso) => {
    const date = new Date(iso);
    return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  };

  function element(tag, text, attributes) {
    const made = document.createElement(tag);
    if (text !== undefined && text !== null) made.textContent = text;
    Object.entries(attributes || {}).forEach(([name, value]) => made.setAttribute(name, value));
    return made;
  }

  function options(select, choices, chosen) {
    select.replaceChildren(...choices.map(([value, label]) => element("option", label, { value })));
    if (chosen) select.value = chosen;
  }

  function openForm(action, item, meeting) {
    current = { action, item, meeting };
    const form = $("field-form-element");
    form.reset();
    form.querySelectorAll("[data-for]").forEach((part) => {
      part.hidden = !part.dataset.for.split(" ").includes(action);
      part.querySelectorAll("input, select, textarea").forEach((input) => {
        input.disabled = part.hidden;
      });
    });
    const titles = { log: "Log visit", plan: "Plan a meeting", case: "Support case", note: "Note" };
    $("field-form-title").textContent = `${titles[action]}: ${item ? item.name : meeting.customer_name}`;
    $("field-form-about").textContent = navigator.onLine ? "" : "Offline: saved on this phone and sent when the signal returns.";
    $("field-form-error").hidden = true;
    const kind = $("f-kind");
    if (action === "log") {
      options(kind, VISIT_KINDS, meeting ? meeting.kind : "on_site");
      $("f-visited-at").value = localInput(new Date(Date.now() - 30 * 60000));
    } else if (action === "plan") {
      options(kind, MEETING_KINDS, "on_site");
      const tomorrow = new Date(Date.now() + 86400000);
      tomorrow.setHours(10, 0, 0, 0);
      $("f-start").value = localInput(tomorrow);
    } else if (action === "case") {
      options(kind, CASE_KINDS, "complaint");
    }
    $("field-form").hidden = false;
    $("field-form").scrollIntoView();
    const first = form.querySelector("[data-for]:not([hidden]) input, [data-for]:not([hidden]) select, [data-for]:not([hidden]) textarea");
    if (first) first.focus();
  }

  function closeForm() {
    $("field-form").hidden = true;
    current = null;
  }

  function entryFromForm() {
    const { action, item, meeting } = current;
    const data = Object.fromEntries(new FormData($("field-form-element")).entries());
    const customer = item ? item.id : meeting.customer;
    const name = item ? item.name : meeting.customer_name;
    if (action === "log") {
      if (!data.visited_at) throw new Error("Say when the visit was.");
      const body = {
        kind: data.kind,
        visited_at: new Date(data.visited_at).toISOString(),
        duration_minutes: Number(data.duration_minutes),
        notes: data.notes,
        outcome: data.outcome,
        next_step: data.next_step,
      };
      if (data.follow_up_on) body.follow_up_on = data.follow_up_on;
      // What the customer asked for: the rows filled in; the server gives owner and due date.
      const asks = [];
      for (let row = 0; `ask_kind_${row}` in data; row += 1) {
        const kind = data[`ask_kind_${row}`];
        const text = (data[`ask_text_${row}`] || "").trim();
        if (!kind && !text) continue;
        if (!kind || !text) throw new Error("Give each ask a kind and what was asked for.");
        asks.push({ kind, text });
      }
      if (asks.length) body.asks = asks;
      // The follow-up's time is the log form's default (the server's, not a copy here).
      if (data.plan_follow_up) Object.assign(body, { plan_follow_up: true });
      if (meeting) {
        return { kind: "log", title: `Visit to ${name}`, url: `/api/v1/visits/${meeting.id}/log/`, body };
      }
      return { kind: "log", visit: true, title: `Visit to ${name}`, url: "/api/v1/visits/log/", body: { ...body, customer } };
    }
    if (action === "plan") {
      if (!data.start) throw new Error("Say when the meeting starts.");
      const start = new Date(data.start);
      const end = new Date(start.getTime() + Number(data.length || 60) * 60000);
      return {
        kind: "plan",
        visit: true,
        title: `Meeting with ${name} on ${data.start.replace("T", " ")}`,
        url: "/api/v1/visits/",
        body: { customer, kind: data.kind, start: start.toISOString(), end: end.toISOString(), purpose: data.purpose },
      };
    }
    if (action === "case") {
      return {
        kind: "case",
        title: `Support case for ${name}`,
        url: "/api/v1/support-cases/",
        body: { customer, kind: data.kind, minutes: Number(data.minutes), note: data.text, opened_on: localDay(new Date()) },
      };
    }
    if (!data.text.trim()) throw new Error("Write the note.");
    return { kind: "note", title: `Note on ${name}`, url: `/api/v1/customers/${customer}/note/`, body: { text: data.text, at: new Date().toISOString() } };
  }

  window.CadenceFieldForm = {
    open: openForm,
    close: closeForm,
    entry: entryFromForm,
    kindLabels: Object.fromEntries([...VISIT_KINDS, ...CASE_KINDS]),
    element,
    localDay,
    timeOf,
  };
})();
