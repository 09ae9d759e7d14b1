// Booking a video reception from the phone, where the hall allows it: pick a free slot, give name, mobile
// number and ID number; staff confirm it and the petitioner gets the SMS link.
import "/static/book-i18n.js";
import { ApiError, api } from "/static/api.js";
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);
const hallZone = validZone(document.querySelector('meta[name="hall-time-zone"]')?.content);
const SUBJECT_LIMIT = 200;
// GB 11643-1999: the 18th character of a resident ID number checks the first 17.
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";
const MOBILE = /^1[3-9]\d{9}$/; // mainland mobile numbers, as the server checks them
// Refusals about the slot: the list is out of date, so it is read again.
const SLOT_ERRORS = new Set(["slot_taken", "slot_in_past", "slot_closed", "slot_not_found", "slot_too_far_ahead"]);

let days = [];
let booked = null;

function validZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return "Asia/Shanghai";
  }
}

function format(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

function hallFormat(moment, options) {
  return new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", { timeZone: hallZone, ...options })
    .format(new Date(moment));
}

const clockText = (moment) => hallFormat(moment, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
// A reception day is a calendar date: format it as one, not as a moment in some zone.
const dayText = (day) => new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", {
  timeZone: "UTC", month: "long", day: "numeric", weekday: "long",
}).format(new Date(`${day}T12:00:00Z`));

// ------------------------------------------------------------------------------------------ checks

function normalisePhone(raw) {
  let digits = (raw || "").replace(/[\s\-()]/g, "");
  for (const prefix of ["+86", "0086", "86"]) {
    if (digits.startsWith(prefix) && digits.length === prefix.length + 11) digits = digits.slice(prefix.length);
  }
  return digits;
}

function normaliseIdNumber(raw) {
  return (raw || "").replace(/\s/g, "").toUpperCase();
}

// Returns the message key of what is wrong with an ID number, or "" when it is well formed.
function idNumberProblem(number) {
  if (!/^\d{17}[\dX]$/.test(number)) return "book.idLength";
  const total = ID_WEIGHTS.reduce((sum, weight, index) => sum + weight * Number(number[index]), 0);
  return ID_CHECK[total % 11] === number[17] ? "" : "book.idCheck";
}

function fieldError(input, errorBox, key) {
  input.setAttribute("aria-invalid", String(Boolean(key)));
  errorBox.hidden = !key;
  errorBox.dataset.i18n = key || "";
  errorBox.textContent = key ? t(key) : "";
  if (!key) delete errorBox.dataset.i18n;
}

function validate() {
  const problems = [];
  const slot = document.querySelector('input[name="slot"]:checked');
  const slotError = $("#slot-error");
  slotError.hidden = Boolean(slot);
  if (slot) delete slotError.dataset.i18n;
  else {
    slotError.dataset.i18n = "book.chooseSlot";
    slotError.textContent = t("book.chooseSlot");
    problems.push(document.querySelector('input[name="slot"]:not(:disabled)') || $("#days"));
  }
  const checks = [
    [$("#name"), $("#name-error"), $("#name").value.trim() ? "" : "book.nameMissing"],
    [$("#phone"), $("#phone-error"), MOBILE.test(normalisePhone($("#phone").value)) ? "" : "book.phoneInvalid"],
    [$("#id-number"), $("#id-error"), idNumberProblem(normaliseIdNumber($("#id-number").value))],
  ];
  for (const [input, box, key] of checks) {
    fieldError(input, box, key);
    if (key) problems.push(input);
  }
  return problems;
}

// ------------------------------------------------------------------------------------------ slots

function showOnly(id) {
  for (const section of ["loading", "closed", "none", "book-form", "booked"]) $(`#${section}`).hidden = section !== id;
}

// Read the bookable slots. In place (after a slot was refused) the form and what was typed stay.
async function loadDays({ inPlace = false } = {}) {
  if (!inPlace) showOnly("loading");
  $("#reload").hidden = true;
  try {
    days = await api("GET", "/api/public/reception-days");
  } catch (error) {
    if (error.code === "public_booking_closed") {
      showOnly("closed");
      return;
    }
    if (inPlace) return; // the refusal is on screen already; the old list stays
    setStatus(errorFrom(error), true);
    $("#reload").hidden = false;
    return;
  }
  setStatus("");
  days = days.filter((day) => day.slots.length > 0);
  if (!days.length) {
    showOnly("none");
    return;
  }
  renderDays(null);
  showOnly("book-form");
}

function renderDays(chosen) {
  const fieldset = $("#days");
  for (const old of fieldset.querySelectorAll(".book-day")) old.remove();
  for (const day of days) {
    const box = document.createElement("div");
    box.className = "book-day";
    const heading = document.createElement("h3");
    heading.append(dayText(day.day), " ");
    const leader = Object.assign(document.createElement("span"), {
      className: "leader",
      textContent: [day.leader.name, day.leader.title].filter(Boolean).join(" "),
    });
    heading.append(leader);
    const slots = document.createElement("div");
    slots.className = "book-slots";
    for (const slot of day.slots) slots.append(slotChoice(slot, String(slot.id) === chosen));
    box.append(heading, slots);
    fieldset.append(box);
  }
}

function slotChoice(slot, checked) {
  const wrapper = document.createElement("div");
  wrapper.className = "slot-choice";
  const id = `slot-${slot.id}`;
  const input = Object.assign(document.createElement("input"), {
    type: "radio", name: "slot", id, value: String(slot.id), disabled: slot.free <= 0, checked: checked && slot.free > 0,
  });
  input.addEventListener("change", () => {
    $("#slot-error").hidden = true;
    $("#book-error").hidden = true;
  });
  const label = document.createElement("label");
  label.htmlFor = id;
  const time = Object.assign(document.createElement("strong"), { textContent: `${clockText(slot.starts_at)}–${clockText(slot.ends_at)}` });
  const free = Object.assign(document.createElement("span"), {
    className: "free",
    textContent: slot.free > 0 ? format("book.free", { n: slot.free }) : t("book.full"),
  });
  label.append(time, free);
  wrapper.append(input, label);
  return wrapper;
}

// ------------------------------------------------------------------------------------------ sending

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text || "";
  status.classList.toggle("message", Boolean(isError));
  status.classList.toggle("error", Boolean(isError));
}

function errorFrom(error) {
  return error instanceof ApiError ? errorText(error.code, error.message) : errorText("network", String(error));
}

function showBookError(text) {
  const box = $("#book-error");
  box.hidden = !text;
  box.textContent = text || "";
}

async function submit(event) {
  event.preventDefault();
  showBookError("");
  const problems = validate();
  if (problems.length) {
    showBookError(t("book.fixErrors"));
    problems[0].focus();
    return;
  }
  const button = $("#book-submit");
  button.disabled = true;
  button.textContent = t("book.sending");
  try {
    booked = await api("POST", "/api/public/appointments", {
      slot_id: Number(document.querySelector('input[name="slot"]:checked').value),
      name: $("#name").value.trim(),
      phone: normalisePhone($("#phone").value),
      id_number: normaliseIdNumber($("#id-number").value),
      subject: $("#subject").value.trim().slice(0, SUBJECT_LIMIT),
    });
  } catch (error) {
    refused(error);
    return;
  } finally {
    button.disabled = false;
    button.textContent = t("book.submit");
  }
  showBooked();
}

function refused(error) {
  const code = error instanceof ApiError ? error.code : "network";
  if (code === "public_booking_closed") {
    showOnly("closed");
    return;
  }
  if (code === "invalid_phone") {
    fieldError($("#phone"), $("#phone-error"), "error.invalid_phone");
    $("#phone").focus();
  } else if (code === "invalid_id_number") {
    fieldError($("#id-number"), $("#id-error"), "error.invalid_id_number");
    $("#id-number").focus();
  }
  showBookError(errorFrom(error));
  if (SLOT_ERRORS.has(code)) loadDays({ inPlace: true });
}

function showBooked() {
  showOnly("booked");
  $("#book-heading").hidden = true;
  fillBooked();
  $("#booked-heading").focus();
  window.scrollTo(0, 0);
}

function fillBooked() {
  if (!booked) return;
  $("#booked-number").textContent = booked.number;
  $("#booked-leader").textContent = [booked.leader?.name, booked.leader?.title].filter(Boolean).join(" ");
  $("#booked-date").textContent = hallFormat(booked.starts_at, { year: "numeric", month: "long", day: "numeric", weekday: "long" });
  $("#booked-time").textContent = `${clockText(booked.starts_at)}–${clockText(booked.ends_at)}`;
  $("#booked-phone").textContent = booked.phone_masked || "";
}

// ------------------------------------------------------------------------------------------ start

function countSubject() {
  $("#subject-count").textContent = `${$("#subject").value.length} / ${SUBJECT_LIMIT}`;
}

function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  document.title = `${t("app.title")} · ${t("book.title")}`;
  document.addEventListener("languagechange", () => {
    document.title = `${t("app.title")} · ${t("book.title")}`;
    if (!$("#book-form").hidden) renderDays(document.querySelector('input[name="slot"]:checked')?.value);
    fillBooked();
  });
  $("#reload").addEventListener("click", () => loadDays());
  $("#book-form").addEventListener("submit", submit);
  $("#subject").addEventListener("input", countSubject);
  // A corrected field loses its red mark as soon as it is right.
  $("#name").addEventListener("input", () => $("#name").value.trim() && fieldError($("#name"), $("#name-error"), ""));
  $("#phone").addEventListener("input", () => MOBILE.test(normalisePhone($("#phone").value)) && fieldError($("#phone"), $("#phone-error"), ""));
  $("#id-number").addEventListener("input", () => !idNumberProblem(normaliseIdNumber($("#id-number").value)) && fieldError($("#id-number"), $("#id-error"), ""));
  $("#phone").addEventListener("blur", () => {
    if ($("#phone").value.trim()) fieldError($("#phone"), $("#phone-error"), MOBILE.test(normalisePhone($("#phone").value)) ? "" : "book.phoneInvalid");
  });
  $("#id-number").addEventListener("blur", () => {
    const value = normaliseIdNumber($("#id-number").value);
    if (value) fieldError($("#id-number"), $("#id-error"), idNumberProblem(value));
  });
  countSubject();
  loadDays();
}

main();
