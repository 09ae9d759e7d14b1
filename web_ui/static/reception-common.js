// What the schedule, console and figures pages share: the sign-in gate, times in the hall's time zone,
// state badges, and errors said in words.
import "/static/reception-i18n.js";
import { api, ApiError } from "/static/api.js";
import { currentLanguage, errorText, t } from "/static/i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined && text !== null) made.textContent = text;
  return made;
}

/** t() with {name} placeholders filled in. */
export function tf(key, values = {}) {
  return t(key).replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// ------------------------------------------------------------------------------------------ times

/** The hall's time zone, written into the page by the server: every time is shown in it. */
export function hallZone() {
  return document.querySelector('meta[name="hall-time-zone"]')?.content || "Asia/Shanghai";
}

const isoDay = (date, zone) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);

/** "2026-05-12": today in the hall. */
export function hallToday() {
  return isoDay(new Date(), hallZone());
}

/** "09:30" in the hall's time zone. */
export function clock(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(currentLanguage(), {
    timeZone: hallZone(), hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

/** "5月12日周二" for a date-only string (a calendar day, no time zone). */
export function dayLabel(day) {
  const [year, month, date] = day.split("-").map(Number);
  return new Intl.DateTimeFormat(currentLanguage(), { timeZone: "UTC", month: "long", day: "numeric", weekday: "short" })
    .format(new Date(Date.UTC(year, month - 1, date)));
}

/** "2026年5月" for "2026-05". */
export function monthLabel(month) {
  const [year, number] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(currentLanguage(), { timeZone: "UTC", year: "numeric", month: "long" })
    .format(new Date(Date.UTC(year, number - 1, 1)));
}

/** "5月12日 09:30", with the year when it is not this year's. */
export function dateTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const sameYear = isoDay(at, hallZone()).slice(0, 4) === hallToday().slice(0, 4);
  return new Intl.DateTimeFormat(currentLanguage(), {
    timeZone: hallZone(), year: sameYear ? undefined : "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(at);
}

/** The slot's "09:00–09:30". */
export function span(startsAt, endsAt) {
  return `${clock(startsAt)}–${clock(endsAt)}`;
}

export function addDays(day, count) {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date + count)).toISOString().slice(0, 10);
}

/** "3:05" or "1:02:05": a running wait. */
export function duration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

// ------------------------------------------------------------------------------------------ words

export function stateBadge(state) {
  const badge = element("span", `state state-${state}`, t(`state.${state}`));
  badge.dataset.state = state;
  return badge;
}

export function leaderName(leader) {
  if (!leader) return "";
  return leader.title ? `${leader.name} ${leader.title}` : leader.name;
}

/** What went wrong, in words: the API's code translated, with the server's detail where it adds something. */
export function describe(error) {
  if (!(error instanceof ApiError)) return t("error.generic") + (error?.message || String(error));
  const text = errorText(error.code, error.message);
  const detailed = ["invalid_request", "http_422"].includes(error.code) && error.message;
  return detailed ? `${text}（${error.message}）` : text;
}

export function setStatus(text, kind = "") {
  const status = $("#status");
  status.textContent = text || "";
  status.className = `status-line${text && kind ? " " + kind : ""}`;
  status.hidden = !text;
}

export function showError(error) {
  setStatus(describe(error), "error");
}

// ------------------------------------------------------------------------------------------ sign-in

/**
 * Who is signed in, or null after saying why the page cannot be used (signed out, or a role not in `roles`).
 * The page's content sits in #app; #gate says why it is not shown.
 */
let signedInAs = null;

function showWho() {
  if (signedInAs) $("#who").textContent = `${signedInAs.display_name}（${t("role." + signedInAs.role)}）`;
}

// The sign-in line and the gate follow the language switch; each page redraws its own content.
document.addEventListener("languagechange", () => {
  showWho();
  setStatus("");
  const gate = $("#gate");
  if (gate && !gate.hidden && gate.dataset.reason) showGate(gate.dataset.reason, Boolean(gate.querySelector("a")));
});

export async function signedIn(roles) {
  let me;
  try {
    me = await api("GET", "/api/auth/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showGate("gate.signedOut", true);
    else showGate(null, false, describe(error));
    return null;
  }
  signedInAs = me;
  showWho();
  if (!roles.has(me.role)) {
    showGate("gate.noAccess", false);
    return null;
  }
  $("#gate").hidden = true;
  $("#app").hidden = false;
  return me;
}

export function showGate(key, withSignIn, text) {
  const gate = $("#gate");
  gate.replaceChildren(element("p", "", text ?? t(key)));
  if (key) gate.dataset.reason = key;
  else delete gate.dataset.reason;
  if (withSignIn) {
    const link = element("a", "button-link primary", t("gate.signIn"));
    link.href = "/";
    gate.append(link);
  }
  gate.hidden = false;
  $("#app").hidden = true;
}

/** Is the error a lost sign-in? Then the gate says so and the caller stops. */
export function lostSignIn(error) {
  if (error instanceof ApiError && error.status === 401) {
    showGate("gate.signedOut", true);
    return true;
  }
  return false;
}

/** Run `work` every `ms` while the page is visible, and at once when it comes back into view. */
export function every(ms, work) {
  let timer = null;
  const start = () => {
    clearInterval(timer);
    timer = setInterval(() => !document.hidden && work(), ms);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) work();
  });
  start();
  return () => clearInterval(timer);
}
