// The schedule (预约排班): leaders' reception days and their slots, booking a petitioner into a slot, finding
// an appointment and acting on it (confirm, cancel, reschedule), opening days, adding leaders, and the SMS outbox.
import { api } from "/static/api.js";
import { applyTranslations, installLanguageSwitch, t } from "/static/i18n.js";
import {
  $, addDays, clock, dateTime, dayLabel, describe, element, every, hallToday, leaderName, lostSignIn, setStatus,
  showError, signedIn, span, stateBadge, tf,
} from "/static/reception-common.js";

const VIEWERS = new Set(["admin", "staff", "leader"]);
const KEEPERS = new Set(["admin", "staff"]);
const PERIOD_DAYS = 14;
const OUTBOX_LIMIT = 100;
const OUTBOX_POLL_MS = 4000; // while a message is due or being sent; idle otherwise (each read is audited)
const SEARCH_LIMIT = 200; // the API's cap on one search: a period with more is read a day at a time
const CANCELLABLE = new Set(["requested", "confirmed", "waiting"]);
const MOVABLE = new Set(["requested", "confirmed"]);
const LINKED = new Set(["requested", "confirmed", "waiting", "in_session", "no_show", "completed"]);
// GB 11643-1999: the check character of the 18-character resident identity number.
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";

const page = {
  me: null,
  keeper: false,
  leaders: [],
  days: [],
  appointments: [],
  slots: new Map(), // slot id -> { slot, day }
  chosenSlot: null,
  detail: null, // the appointment in the detail panel (with history)
  detailForm: null, // "cancel" | "reschedule" | null
  detailLink: { url: null, copied: false }, // the detail's petitioner link, once asked for
  searchResults: null,
  outbox: [],
  booked: null, // the last booking: { appointment, url, copied }
};

// ------------------------------------------------------------------------------------------ checks

/** The 11-digit mobile number in what was typed (spaces, dashes, +86 allowed), or null. */
export function mobileNumber(raw) {
  let digits = (raw || "").replace(/[\s\-()]/g, "");
  for (const prefix of ["+86", "0086", "86"]) {
    if (digits.startsWith(prefix) && digits.length === prefix.length + 11) digits = digits.slice(prefix.length);
  }
  return /^1[3-9]\d{9}$/.test(digits) ? digits : null;
}

/** The i18n key of what is wrong with an ID number, or null when it is well formed and its check character right. */
export function idNumberProblem(raw) {
  const number = (raw || "").replace(/\s/g, "").toUpperCase();
  if (!/^\d{17}[\dX]$/.test(number)) return "sched.idInvalid";
  const total = ID_WEIGHTS.reduce((sum, weight, index) => sum + weight * Number(number[index]), 0);
  return ID_CHECK[total % 11] === number[17] ? null : "sched.idCheck";
}

function fieldProblem(input, box, key) {
  box.hidden = !key;
  box.textContent = key ? t(key) : "";
  input.setAttribute("aria-invalid", key ? "true" : "false");
  return Boolean(key);
}

function checkPhone() {
  const value = $("#booking-phone").value;
  return !fieldProblem($("#booking-phone"), $("#booking-phone-error"), value && !mobileNumber(value) ? "sched.phoneInvalid" : null);
}

function checkId() {
  const value = $("#booking-id").value;
  return !fieldProblem($("#booking-id"), $("#booking-id-error"), value ? idNumberProblem(value) : null);
}

// ------------------------------------------------------------------------------------------ loading

function period() {
  return { first: $("#period-first").value, last: $("#period-last").value, leader: $("#period-leader").value };
}

function query(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== "" && value != null) params.set(key, value);
  return params.toString();
}

async function loadLeaders() {
  page.leaders = await api("GET", "/api/leaders");
  fillLeaderSelects();
}

function fillLeaderSelects() {
  const filter = $("#period-leader");
  const chosen = filter.value;
  filter.replaceChildren(new Option(t("common.allLeaders"), ""));
  const dayLeader = $("#day-leader");
  const dayChosen = dayLeader.value;
  dayLeader.replaceChildren();
  for (const leader of page.leaders) {
    filter.append(new Option(leaderName(leader), String(leader.id)));
    dayLeader.append(new Option(leaderName(leader), String(leader.id)));
  }
  filter.value = chosen;
  if (dayChosen) dayLeader.value = dayChosen;
  $("#period-leader-field").hidden = page.me.role === "leader";
  $("#day-submit").disabled = page.leaders.length === 0;
  $("#day-no-leaders").hidden = page.leaders.length > 0;
}

async function appointmentsIn(first, last, leader) {
  const found = await api("GET", `/api/appointments?${query({ first, last, leader_id: leader })}`);
  if (found.length < SEARCH_LIMIT || first === last) return found;
  const days = [];
  for (let day = first; day <= last; day = addDays(day, 1)) days.push(day);
  const parts = await Promise.all(days.map((day) => api("GET", `/api/appointments?${query({ first: day, last: day, leader_id: leader })}`)));
  return parts.flat();
}

async function loadSchedule() {
  const { first, last, leader } = period();
  if (!first || !last) return;
  try {
    const [days, appointments] = await Promise.all([
      api("GET", `/api/reception-days?${query({ first, last, leader_id: leader })}`),
      appointmentsIn(first, last, leader),
    ]);
    page.days = days;
    page.appointments = appointments;
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  page.slots.clear();
  for (const day of page.days) for (const slot of day.slots) page.slots.set(slot.id, { slot, day });
  if (page.chosenSlot !== null && !slotBookable(page.chosenSlot)) page.chosenSlot = null;
  renderDays();
  renderChosenSlot();
  if (page.detail) renderDetail();
}

// ------------------------------------------------------------------------------------------ the days

function slotBookable(slotId) {
  const entry = page.slots.get(slotId);
  if (!entry) return false;
  return !entry.day.cancelled && entry.slot.booked < entry.slot.capacity && new Date(entry.slot.starts_at) > new Date();
}

function renderDays() {
  const box = $("#days");
  box.replaceChildren();
  if (page.days.length === 0) {
    box.append(element("p", "hint", t("sched.noDays")));
    return;
  }
  const byDate = new Map();
  for (const day of [...page.days].sort((a, b) => a.starts_at.localeCompare(b.starts_at))) {
    if (!byDate.has(day.day)) byDate.set(day.day, []);
    byDate.get(day.day).push(day);
  }
  const bookings = new Map();
  for (const appointment of page.appointments) {
    if (!bookings.has(appointment.slot_id)) bookings.set(appointment.slot_id, []);
    bookings.get(appointment.slot_id).push(appointment);
  }
  for (const [date, days] of byDate) {
    const group = element("section", "day-group");
    group.dataset.date = date;
    const heading = element("h3", "day-date", dayLabel(date));
    if (date === hallToday()) heading.classList.add("today");
    group.append(heading);
    for (const day of days) group.append(receptionDay(day, bookings));
    box.append(group);
  }
}

function receptionDay(day, bookings) {
  const card = element("article", "reception-day" + (day.cancelled ? " cancelled" : ""));
  card.dataset.dayId = day.id;
  const head = element("header", "reception-day-head");
  const title = element("div", "reception-day-title");
  title.append(element("strong", "", leaderName(day.leader)), element("span", "muted", span(day.starts_at, day.ends_at)));
  const facts = element("div", "reception-day-facts");
  const desk = day.desk || day.leader.desk;
  if (desk) facts.append(element("span", "tag", `${t("sched.desk")}${t("common.colon")}${desk}`));
  if (day.public_booking) facts.append(element("span", "tag", t("sched.publicBooking")));
  if (day.cancelled) facts.append(element("span", "state state-cancelled", t("sched.dayCancelled")));
  if (day.note) facts.append(element("span", "note", day.note));
  head.append(title, facts);
  if (page.keeper && !day.cancelled && new Date(day.ends_at) > new Date()) {
    const cancel = element("button", "small danger", t("sched.cancelDay"));
    cancel.type = "button";
    cancel.addEventListener("click", () => {
      cancel.hidden = true;
      head.after(reasonForm("sched.cancelDayReason", "sched.cancelDay", async (reason) => {
        const done = await api("POST", `/api/reception-days/${day.id}/cancel`, { reason });
        setStatus(tf("sched.dayCancelledDone", { count: done.cancelled_appointments }), "ok");
        await Promise.all([loadSchedule(), loadOutbox(), reloadDetail(), page.searchResults ? search() : null]);
      }, () => { cancel.hidden = false; }));
    });
    head.append(cancel);
  }
  card.append(head);
  const list = element("ol", "slots");
  for (const slot of day.slots) list.append(slotItem(slot, day, bookings.get(slot.id) || []));
  card.append(list);
  return card;
}

function slotItem(slot, day, booked) {
  const item = element("li", "slot");
  const button = element("button", "slot-button");
  button.type = "button";
  button.dataset.slotId = slot.id;
  const free = slot.capacity - slot.booked;
  const past = new Date(slot.starts_at) <= new Date();
  button.append(element("span", "slot-time", span(slot.starts_at, slot.ends_at)));
  const freeText = day.cancelled ? t("sched.dayCancelled") : past ? t("sched.past") : free > 0
    ? tf("sched.free", { free, capacity: slot.capacity }) : t("sched.full");
  button.append(element("span", "slot-free", freeText));
  button.classList.toggle("full", free <= 0);
  button.classList.toggle("past", past);
  button.classList.toggle("chosen", page.chosenSlot === slot.id);
  button.disabled = !page.keeper || !slotBookable(slot.id);
  button.addEventListener("click", () => chooseSlot(slot.id));
  item.append(button);
  if (booked.length) {
    const list = element("ul", "bookings");
    const open = (a) => !["cancelled", "rescheduled"].includes(a.state);
    for (const appointment of [...booked].sort((a, b) => open(b) - open(a))) {
      const entry = element("li", open(appointment) ? "" : "closed");
      const link = element("button", "booking");
      link.type = "button";
      link.dataset.appointmentId = appointment.id;
      link.append(
        element("span", "booking-name", appointment.petitioner_name),
        element("span", "booking-phone", appointment.phone_masked),
        stateBadge(appointment.state),
      );
      link.addEventListener("click", () => openDetail(appointment.id));
      entry.append(link);
      list.append(entry);
    }
    item.append(list);
  }
  return item;
}

/** A small form asking for a reason, put in place of the button that asked for it. */
function reasonForm(labelKey, submitKey, onSubmit, onClose, optional = false) {
  const form = element("form", "reason-form");
  const id = `reason-${Math.random().toString(36).slice(2, 8)}`;
  const label = element("label", "", t(labelKey));
  label.htmlFor = id;
  const input = element("input");
  Object.assign(input, { id, maxLength: 100, required: !optional });
  const row = element("div", "row");
  const submit = element("button", "danger", t(submitKey));
  submit.type = "submit";
  const back = element("button", "", t("common.back"));
  back.type = "button";
  back.addEventListener("click", () => {
    form.remove();
    onClose?.();
  });
  row.append(submit, back);
  form.append(label, input, row);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await onSubmit(input.value.trim());
      form.remove();
    } catch (error) {
      if (!lostSignIn(error)) showError(error);
      submit.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return form;
}

// ------------------------------------------------------------------------------------------ booking

function chooseSlot(slotId) {
  if (page.detailForm === "reschedule" && page.detail) {
    const select = $("#reschedule-slot");
    if (select && [...select.options].some((option) => option.value === String(slotId))) {
      select.value = String(slotId);
      $("#reschedule-submit")?.focus();
      return;
    }
  }
  page.chosenSlot = slotId;
  for (const button of document.querySelectorAll(".slot-button")) {
    button.classList.toggle("chosen", button.dataset.slotId === String(slotId));
  }
  renderChosenSlot();
  $("#booking-slot-missing").hidden = true;
  $("#booking-result").hidden = true;
  const form = $("#booking-form");
  if (form.getBoundingClientRect().top > window.innerHeight || form.getBoundingClientRect().bottom < 0) {
    form.scrollIntoView({ behavior: "smooth", block: "start" });
  }
  $("#booking-name").focus({ preventScroll: true });
}

function slotText(slotId) {
  const entry = page.slots.get(slotId);
  if (!entry) return "";
  const { slot, day } = entry;
  return `${dayLabel(day.day)} ${span(slot.starts_at, slot.ends_at)} · ${leaderName(day.leader)}`;
}

function renderChosenSlot() {
  $("#booking-slot").value = page.chosenSlot ?? "";
  $("#booking-slot-label").textContent = page.chosenSlot === null ? "—" : slotText(page.chosenSlot);
}

async function book(event) {
  event.preventDefault();
  const name = $("#booking-name").value.trim();
  const phoneOk = checkPhone();
  const idOk = checkId();
  $("#booking-slot-missing").hidden = page.chosenSlot !== null;
  const missing = [
    [page.chosenSlot === null, null],
    [!name, "#booking-name"],
    [!$("#booking-phone").value.trim() || !phoneOk, "#booking-phone"],
    [!$("#booking-id").value.trim() || !idOk, "#booking-id"],
  ].filter(([bad]) => bad);
  if (!$("#booking-phone").value.trim()) fieldProblem($("#booking-phone"), $("#booking-phone-error"), "sched.phoneInvalid");
  if (!$("#booking-id").value.trim()) fieldProblem($("#booking-id"), $("#booking-id-error"), "sched.idInvalid");
  $("#booking-name").setAttribute("aria-invalid", name ? "false" : "true");
  if (missing.length) {
    const first = missing.find(([, selector]) => selector);
    if (first) $(first[1]).focus();
    else $("#booking-slot-missing").scrollIntoView({ block: "nearest" });
    return;
  }
  const submit = $("#booking-submit");
  submit.disabled = true;
  try {
    const appointment = await api("POST", "/api/appointments", {
      slot_id: page.chosenSlot,
      name,
      phone: mobileNumber($("#booking-phone").value),
      id_number: $("#booking-id").value.replace(/\s/g, "").toUpperCase(),
      subject: $("#booking-subject").value.trim(),
    });
    page.booked = { appointment, url: null, copied: false };
    for (const id of ["#booking-name", "#booking-phone", "#booking-id", "#booking-subject"]) $(id).value = "";
    page.chosenSlot = null;
    renderBooked();
    setStatus(`${t("sched.booked")}${t("common.colon")}${appointment.number}`, "ok");
    await Promise.all([loadSchedule(), loadOutbox()]);
  } catch (error) {
    if (!lostSignIn(error)) {
      showError(error);
      showBookingError(describe(error));
    }
  } finally {
    submit.disabled = false;
  }
}

function showBookingError(text) {
  const box = $("#booking-result");
  box.hidden = false;
  box.className = "result error";
  box.replaceChildren(element("p", "", text));
}

function renderBooked() {
  const box = $("#booking-result");
  const booked = page.booked;
  if (!booked) {
    box.hidden = true;
    return;
  }
  const { appointment } = booked;
  box.className = "result ok";
  box.hidden = false;
  const number = element("strong", "booking-number", appointment.number);
  number.id = "booking-number";
  const heading = element("p", "result-heading");
  heading.append(`${t("sched.booked")} · ${t("sched.number")}${t("common.colon")}`, number);
  const summary = element("p", "", `${appointment.petitioner_name} · ${appointment.phone_masked} · ${dateTime(appointment.starts_at)} · ${leaderName(appointment.leader)}`);
  box.replaceChildren(heading, summary, linkControls(appointment, booked, "booking-copy-link"));
}

/** The "copy the petitioner's link" button, and the link once fetched (to read out if copying is not possible). */
function linkControls(appointment, holder, buttonId) {
  const wrap = element("div", "link-controls");
  const button = element("button", "", t("sched.copyLink"));
  button.type = "button";
  button.id = buttonId;
  wrap.append(button);
  const show = () => {
    wrap.querySelector(".link-shown")?.remove();
    if (!holder.url) return;
    const shown = element("div", "link-shown");
    shown.append(element("p", "hint", t(holder.copied ? "sched.linkCopied" : "sched.linkShown")), element("p", "link-box", holder.url));
    wrap.append(shown);
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      holder.url = (await api("GET", `/api/appointments/${appointment.id}/link`)).url;
      holder.copied = false;
      try {
        await navigator.clipboard.writeText(holder.url);
        holder.copied = true;
      } catch {
        // No clipboard here (an insecure origin, or no permission): the link is shown to copy by hand.
      }
      show();
    } catch (error) {
      if (!lostSignIn(error)) showError(error);
    } finally {
      button.disabled = false;
    }
  });
  show();
  return wrap;
}

// ------------------------------------------------------------------------------------------ search

async function search(event) {
  event?.preventDefault();
  const text = $("#search-input").value.trim();
  try {
    page.searchResults = await api("GET", `/api/appointments?${query({ q: text })}`);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  renderSearch();
}

function renderSearch() {
  const list = $("#search-results");
  list.replaceChildren();
  if (page.searchResults === null) return;
  if (page.searchResults.length === 0) {
    list.append(element("li", "hint", t("sched.noResults")));
    return;
  }
  for (const appointment of page.searchResults) {
    const item = element("li");
    item.dataset.appointmentId = appointment.id;
    const button = element("button", "result-row");
    button.type = "button";
    const top = element("span", "result-top");
    top.append(element("strong", "", appointment.number), element("span", "", appointment.petitioner_name), element("span", "muted", appointment.phone_masked), stateBadge(appointment.state));
    const bottom = element("span", "result-bottom muted", `${dateTime(appointment.starts_at)} · ${leaderName(appointment.leader)}${appointment.subject ? " · " + appointment.subject : ""}`);
    button.append(top, bottom);
    button.addEventListener("click", () => openDetail(appointment.id));
    item.append(button);
    list.append(item);
  }
}

// ------------------------------------------------------------------------------------------ the detail

async function openDetail(appointmentId) {
  try {
    page.detail = await api("GET", `/api/appointments/${appointmentId}`);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  page.detailForm = null;
  page.detailLink = { url: null, copied: false };
  renderDetail();
  const panel = $("#detail");
  panel.hidden = false;
  panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function reloadDetail() {
  if (!page.detail) return;
  try {
    page.detail = await api("GET", `/api/appointments/${page.detail.id}`);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  renderDetail();
}

function facts(pairs) {
  const list = element("dl", "facts");
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(element("dt", "", t(key)), element("dd", "", value));
  }
  return list;
}

function historyReason(reason) {
  if (!reason) return "";
  const known = t(`reason.${reason}`);
  if (known !== `reason.${reason}`) return known;
  const moved = reason.match(/^rescheduled from (\S+)$/);
  if (moved) return tf("reason.rescheduledFrom", { number: moved[1] });
  if (/^not arrived after /.test(reason)) return t("reason.notArrived");
  return reason;
}

function actorName(actor) {
  const known = t(`actor.${actor}`);
  return known === `actor.${actor}` ? actor : known;
}

function renderDetail() {
  const a = page.detail;
  const body = $("#detail-body");
  if (!a) {
    $("#detail").hidden = true;
    return;
  }
  body.replaceChildren();
  body.dataset.appointmentId = a.id;
  const head = element("p", "detail-title");
  head.append(element("strong", "", a.number), stateBadge(a.state));
  // 回访: they have been received before (an earlier booking that was moved or never held does not count).
  if (a.earlier_visits?.some((visit) => visit.state === "completed")) head.append(element("span", "tag returning", t("sched.returning")));
  body.append(head);
  body.append(facts([
    ["sched.leader", leaderName(a.leader)],
    ["sched.day", `${dateTime(a.starts_at)}–${clock(a.ends_at)}`],
    ["sched.name", a.petitioner_name],
    ["sched.phone", a.phone_masked],
    ["sched.subject", a.subject],
    ["sched.bookedBy", `${t("channel." + a.channel)} · ${actorName(a.created_by)} · ${dateTime(a.created_at)}`],
  ]));
  if (a.rescheduled_to_id || a.rescheduled_from_id) {
    const links = element("p", "moved");
    for (const [id, key] of [[a.rescheduled_from_id, "sched.movedFrom"], [a.rescheduled_to_id, "sched.movedTo"]]) {
      if (!id) continue;
      const button = element("button", "small", tf(key, { id }));
      button.type = "button";
      button.addEventListener("click", () => openDetail(id));
      links.append(button);
    }
    body.append(links);
  }

  body.append(element("h3", "", t("sched.outcome")));
  if (a.outcome) {
    body.append(facts([
      ["console.result", t(`result.${a.outcome.result}`)],
      ["console.notes", a.outcome.notes],
      ["sched.writtenBy", `${actorName(a.outcome.written_by)} · ${dateTime(a.outcome.written_at)}`],
    ]));
  } else {
    body.append(element("p", "hint", t("sched.noOutcome")));
  }
  body.append(element("h3", "", t("sched.rating")));
  if (a.rating) {
    body.append(element("p", "", tf("sched.score", { score: a.rating.score }) + (a.rating.comment ? ` · ${a.rating.comment}` : "")));
  } else {
    body.append(element("p", "hint", t("sched.noRating")));
  }

  body.append(element("h3", "", t("sched.earlier")));
  if (a.earlier_visits?.length) {
    const list = element("ul", "earlier");
    for (const visit of a.earlier_visits) {
      const item = element("li");
      const button = element("button", "link-button", `${dateTime(visit.starts_at)} · ${visit.number}`);
      button.type = "button";
      button.addEventListener("click", () => openDetail(visit.id));
      item.append(button, element("span", "", ` ${visit.leader_name} · ${visit.subject || ""} `), stateBadge(visit.state));
      if (visit.result) item.append(element("span", "tag", t(`result.${visit.result}`)));
      list.append(item);
    }
    body.append(list);
  } else {
    body.append(element("p", "hint", t("sched.noEarlier")));
  }

  body.append(element("h3", "", t("sched.history")));
  const history = element("ol", "history");
  for (const entry of a.history || []) {
    const item = element("li");
    item.append(element("span", "muted", dateTime(entry.at)), " ");
    if (entry.from_state) item.append(stateBadge(entry.from_state), " → ");
    item.append(stateBadge(entry.to_state), ` ${actorName(entry.actor)}`);
    const reason = historyReason(entry.reason);
    if (reason) item.append(element("span", "muted", ` · ${reason}`));
    history.append(item);
  }
  body.append(history);

  if (page.keeper) body.append(detailActions(a));
}

function detailActions(a) {
  const actions = element("div", "detail-actions");
  const buttons = element("div", "row actions-row");
  const add = (id, key, className, onClick) => {
    const button = element("button", className, t(key));
    button.type = "button";
    button.id = id;
    button.addEventListener("click", onClick);
    buttons.append(button);
    return button;
  };
  if (a.state === "requested") {
    add("detail-confirm", "sched.confirm", "primary", () => act(async () => {
      const done = await api("POST", `/api/appointments/${a.id}/confirm`);
      setStatus(tf("sched.confirmed", { number: done.number }), "ok");
      return done;
    }));
  }
  if (["confirmed", "waiting", "in_session", "no_show"].includes(a.state)) {
    // The link was opened on another phone first (another app, a cleared browser): let it work on a new one.
    add("detail-release", "sched.releaseLink", "", () => act(async () => {
      const done = await api("POST", `/api/appointments/${a.id}/release-link`);
      setStatus(tf("sched.linkReleased", { number: done.number }), "ok");
      return done;
    }));
  }
  if (MOVABLE.has(a.state)) {
    add("detail-reschedule", "sched.reschedule", "", () => {
      page.detailForm = page.detailForm === "reschedule" ? null : "reschedule";
      renderDetail();
    });
  }
  if (CANCELLABLE.has(a.state)) {
    add("detail-cancel", "sched.cancel", "danger", () => {
      page.detailForm = page.detailForm === "cancel" ? null : "cancel";
      renderDetail();
    });
  }
  actions.append(buttons);
  if (LINKED.has(a.state)) actions.append(linkControls(a, page.detailLink, "detail-link"));
  if (page.detailForm === "cancel") {
    const form = reasonForm("sched.cancelReason", "sched.cancel", async (reason) => {
      const done = await api("POST", `/api/appointments/${a.id}/cancel`, { reason });
      page.detailForm = null;
      setStatus(tf("sched.cancelled", { number: done.number }), "ok");
      await afterChange(done.id);
    }, () => { page.detailForm = null; renderDetail(); });
    form.id = "cancel-form";
    form.querySelector("input").id = "cancel-reason";
    form.querySelector("label").htmlFor = "cancel-reason";
    form.querySelector("button[type=submit]").id = "cancel-submit";
    actions.append(form);
  }
  if (page.detailForm === "reschedule") actions.append(rescheduleForm(a));
  return actions;
}

function rescheduleForm(a) {
  const form = element("form", "reason-form");
  form.id = "reschedule-form";
  const free = [...page.slots.values()]
    .filter(({ slot }) => slot.id !== a.slot_id && slotBookable(slot.id))
    .sort((x, y) => x.slot.starts_at.localeCompare(y.slot.starts_at));
  if (free.length === 0) {
    form.append(element("p", "hint", t("sched.noFreeSlots")));
    return form;
  }
  const label = element("label", "", t("sched.rescheduleTo"));
  label.htmlFor = "reschedule-slot";
  const select = element("select");
  select.id = "reschedule-slot";
  for (const { slot } of free) {
    select.append(new Option(`${slotText(slot.id)}（${tf("sched.free", { free: slot.capacity - slot.booked, capacity: slot.capacity })}）`, String(slot.id)));
  }
  const reasonLabel = element("label", "", t("sched.rescheduleReason"));
  reasonLabel.htmlFor = "reschedule-reason";
  const reason = element("input");
  Object.assign(reason, { id: "reschedule-reason", maxLength: 100 });
  const submit = element("button", "primary", t("sched.reschedule"));
  submit.type = "submit";
  submit.id = "reschedule-submit";
  const back = element("button", "", t("common.back"));
  back.type = "button";
  back.addEventListener("click", () => { page.detailForm = null; renderDetail(); });
  const row = element("div", "row");
  row.append(submit, back);
  form.append(label, select, reasonLabel, reason, row);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const done = await api("POST", `/api/appointments/${a.id}/reschedule`, {
        slot_id: Number(select.value), reason: reason.value.trim(),
      });
      page.detailForm = null;
      setStatus(tf("sched.rescheduled", { number: done.number }), "ok");
      return done;
    });
  });
  return form;
}

async function act(work) {
  try {
    const done = await work();
    await afterChange(done.id);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  }
}

async function afterChange(appointmentId) {
  page.detail = { id: appointmentId };
  page.detailLink = { url: null, copied: false };
  await Promise.all([reloadDetail(), loadSchedule(), loadOutbox(), page.searchResults ? search() : null]);
}

// ------------------------------------------------------------------------------------------ days and leaders

async function openDay(event) {
  event.preventDefault();
  const form = event.target;
  if (!form.reportValidity()) return;
  const minutesOf = (value) => Number(value.slice(0, 2)) * 60 + Number(value.slice(3, 5));
  const length = minutesOf($("#day-end").value) - minutesOf($("#day-start").value);
  if (length <= 0 || length < Number($("#day-slot-minutes").value)) {
    setStatus(t(length <= 0 ? "sched.endBeforeStart" : "sched.slotTooLong"), "error");
    (length <= 0 ? $("#day-end") : $("#day-slot-minutes")).focus();
    return;
  }
  const submit = $("#day-submit");
  submit.disabled = true;
  try {
    const day = await api("POST", "/api/reception-days", {
      leader_id: Number($("#day-leader").value),
      day: $("#day-date").value,
      start: $("#day-start").value,
      end: $("#day-end").value,
      slot_minutes: Number($("#day-slot-minutes").value),
      capacity: Number($("#day-capacity").value),
      desk: $("#day-desk").value.trim() || null,
      public_booking: $("#day-public").checked,
      note: $("#day-note").value.trim(),
    });
    setStatus(tf("sched.dayOpened", { count: day.slots.length }), "ok");
    const { first, last } = period();
    if (day.day < first || day.day > last) {
      if (day.day < first) $("#period-first").value = day.day;
      else $("#period-last").value = day.day;
    }
    await loadSchedule();
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  } finally {
    submit.disabled = page.leaders.length === 0;
  }
}

async function addLeader(event) {
  event.preventDefault();
  if (!event.target.reportValidity()) return;
  try {
    const leader = await api("POST", "/api/leaders", {
      name: $("#leader-name").value.trim(),
      title: $("#leader-title").value.trim(),
      username: $("#leader-username").value.trim() || null,
      desk: $("#leader-desk").value.trim() || null,
    });
    event.target.reset();
    setStatus(tf("sched.leaderAdded", { name: leaderName(leader) }), "ok");
    await loadLeaders();
    $("#day-leader").value = String(leader.id);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  }
}

// ------------------------------------------------------------------------------------------ the outbox

async function loadOutbox() {
  if (!page.keeper) return;
  try {
    page.outbox = await api("GET", `/api/notifications?limit=${OUTBOX_LIMIT}`);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  renderOutbox();
}

function outboxBusy() {
  const soon = Date.now() + OUTBOX_POLL_MS;
  return page.outbox.some((n) => n.state === "sending" || (n.state === "pending" && new Date(n.due_at).getTime() <= soon));
}

function renderOutbox() {
  const list = $("#outbox");
  list.replaceChildren();
  $("#outbox-empty").hidden = page.outbox.length > 0;
  for (const message of page.outbox) {
    const item = element("li", `sms sms-${message.state}`);
    item.dataset.notificationId = message.id;
    item.dataset.state = message.state;
    const head = element("div", "sms-head");
    const when = message.sent_at
      ? `${t("sched.sent")} ${dateTime(message.sent_at)}`
      : `${t("sched.due")} ${dateTime(message.due_at)}`;
    const badge = element("span", `sms-state sms-state-${message.state}`, t(`sms.state.${message.state}`));
    head.append(
      badge,
      element("span", "sms-kind", t(`sms.kind.${message.kind}`)),
      element("span", "sms-number", message.appointment_number),
      element("span", "muted", message.phone_masked),
      element("span", "muted sms-when", when),
    );
    if (message.attempts > 1 || message.state === "failed") head.append(element("span", "muted", tf("sched.attempts", { count: message.attempts })));
    item.append(head, element("p", "sms-text", message.text));
    if (message.last_error && (message.state === "failed" || message.state === "pending")) item.append(element("p", "sms-error", message.last_error));
    list.append(item);
  }
}

// ------------------------------------------------------------------------------------------ start

function renderAll() {
  fillLeaderSelects();
  renderDays();
  renderChosenSlot();
  renderBooked();
  renderSearch();
  renderDetail();
  renderOutbox();
  checkPhone();
  checkId();
}

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  page.me = await signedIn(VIEWERS);
  if (!page.me) return;
  document.addEventListener("languagechange", () => {
    renderAll();
  });
  page.keeper = KEEPERS.has(page.me.role);
  for (const panel of document.querySelectorAll(".keeper-only")) panel.hidden = !page.keeper;
  $("#read-only").hidden = page.keeper;
  const today = hallToday();
  $("#period-first").value = today;
  $("#period-last").value = addDays(today, PERIOD_DAYS);
  $("#day-date").value = today;
  $("#day-date").min = today;

  $("#period-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadSchedule();
  });
  $("#period-leader").addEventListener("change", loadSchedule);
  $("#booking-form").addEventListener("submit", book);
  $("#booking-phone").addEventListener("blur", checkPhone);
  $("#booking-id").addEventListener("blur", checkId);
  $("#booking-phone").addEventListener("input", () => !$("#booking-phone-error").hidden && checkPhone());
  $("#booking-id").addEventListener("input", () => !$("#booking-id-error").hidden && checkId());
  $("#search-form").addEventListener("submit", search);
  $("#detail-close").addEventListener("click", () => {
    page.detail = null;
    page.detailForm = null;
    renderDetail();
  });
  $("#day-form").addEventListener("submit", openDay);
  $("#leader-form").addEventListener("submit", addLeader);
  $("#outbox-refresh").addEventListener("click", loadOutbox);

  try {
    await loadLeaders();
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  renderChosenSlot();
  await Promise.all([loadSchedule(), loadOutbox()]);
  // The schedule changes under other staff's hands and by itself (arrivals, no-shows): keep it current.
  // Not while a reason is being typed: the redraw would take the half-typed form away.
  every(30000, () => !page.detailForm && !document.querySelector("#days .reason-form") && loadSchedule());
  every(OUTBOX_POLL_MS, () => page.keeper && outboxBusy() && loadOutbox());
}

main();
