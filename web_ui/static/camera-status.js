// How the wall says a camera's state, shared by its tiles and the enlarged view: the status badge, the note
// over a picture, times in the hall's time zone, and errors translated by their code.
import { ApiError } from "/static/api.js";
import { currentLanguage, errorText, t } from "/static/i18n.js";

export function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

/** The hall's time zone (the server's setting, written into the page), for every time shown. */
export function timeZone() {
  return document.querySelector('meta[name="hall-time-zone"]')?.content || "Asia/Shanghai";
}

/** "03:12:45" today in the hall's time zone, with the day before it otherwise. */
export function formatTime(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const zone = timeZone();
  const language = currentLanguage();
  const dayOf = (date) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" }).format(date);
  const clock = new Intl.DateTimeFormat(language, {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(at);
  if (dayOf(at) === dayOf(new Date())) return clock;
  const day = new Intl.DateTimeFormat(language, { timeZone: zone, month: "short", day: "numeric" }).format(at);
  return `${day} ${clock}`;
}

export function fullTime(iso) {
  return new Intl.DateTimeFormat(currentLanguage(), { timeZone: timeZone(), dateStyle: "full", timeStyle: "long" })
    .format(new Date(iso));
}

/** online, offline, or unknown (not checked yet: shown as "connecting"). */
export function statusClass(camera) {
  return camera.status === "online" || camera.status === "offline" ? camera.status : "unknown";
}

export function statusText(camera) {
  return t(`wall.status.${statusClass(camera)}`);
}

export function showStatus(badge, camera) {
  badge.className = `cam-status ${statusClass(camera)}`;
  badge.textContent = statusText(camera);
}

function detailText(code) {
  const key = `wall.detail.${code}`;
  const known = t(key);
  return known === key ? code : known;
}

/** What to say over a camera's picture, if anything: the camera's status first, then the video's own state. */
export function pictureNote(camera, player) {
  if (camera.status === "offline") {
    const cause = camera.detail ? detailText(camera.detail) : "";
    const more = [cause, t("wall.resumes")].filter(Boolean).join(t("wall.separator"));
    return { text: t("wall.offlineVideo"), more, kind: "offline" };
  }
  switch (player?.state) {
    case "playing":
      return null;
    case "stalled":
      return { text: t("wall.stalled"), kind: "waiting" };
    case "blocked":
      return { text: t("wall.tapToPlay"), kind: "blocked" };
    case "failed":
      return { text: errorText(player.detail, player.detail), kind: "failed" };
    default:
      return { text: t("wall.connectingVideo"), kind: "waiting" };
  }
}

export function showNote(overlay, note) {
  overlay.hidden = !note;
  overlay.dataset.kind = note?.kind ?? "";
  const lines = note ? [element("strong", "", note.text)] : [];
  if (note?.more) lines.push(element("small", "", note.more));
  overlay.replaceChildren(...lines);
}

export function problemText(error) {
  return error instanceof ApiError ? errorText(error.code, error.message) : errorText("network", String(error));
}

export function isSignedOut(error) {
  return error instanceof ApiError && error.status === 401;
}
