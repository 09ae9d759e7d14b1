// The camera wall (视频监控墙): every camera's sub-stream live in a tile with its status and motion, a live
// list of motion events, and one camera enlarged on its main stream (camera-focus.js).
//
// Status and motion come from the wall's socket; pictures come over WHEP, only for tiles on screen, so a
// camera nobody looks at costs the server nothing. /cameras#camera=<id> opens a camera enlarged.
import { api, ApiError } from "/static/api.js";
import { installAddDialog } from "/static/camera-add.js";
import { FocusView } from "/static/camera-focus.js";
import { CameraPlayer } from "/static/camera-player.js";
import { CameraSocket } from "/static/camera-socket.js";
import { element, formatTime, fullTime, isSignedOut, pictureNote, problemText, showNote, showStatus, statusClass, statusText } from "/static/camera-status.js";
import { applyTranslations, installLanguageSwitch, t } from "/static/i18n.js";

const KEEPERS = new Set(["admin", "security"]);
const OFFSCREEN_GRACE_MS = 3000; // a tile scrolled away (or behind the enlarged view) keeps playing this long
const HIDDEN_PAGE_GRACE_MS = 15000; // a page in a background tab lets its streams go after this
const MAX_EVENTS = 200;
const $ = (selector) => document.querySelector(selector);

const wall = {
  me: null,
  keeper: false,
  cameras: new Map(), // id -> the API's camera, kept current by the socket
  tiles: new Map(), // id -> { element, video, overlay, status, motion, open, play, player, visible, stopTimer }
  events: [], // newest first: { id, camera_id, started_at, ended_at, source }
  focus: null, // FocusView
  socket: null,
  observer: null,
  refreshTimer: null,
  greeted: false,
  blocked: null, // the i18n key of why this page cannot work for this visitor
};

// ------------------------------------------------------------------------------------------ blocked

function signedOut() {
  showBlocked("wall.signedOut", true);
}

/** The page cannot work for this visitor (signed out, or a role that may not see cameras): say why, plainly. */
function showBlocked(key, withSignIn) {
  wall.blocked = key;
  document.body.classList.add("blocked");
  stopEverything(false);
  wall.socket?.close();
  $("#tiles").hidden = true;
  wall.focus.hide();
  document.querySelector(".wall-events").hidden = true;
  $("#add-camera").hidden = true;
  $("#banner").hidden = true;
  const box = $("#wall-message");
  box.replaceChildren(element("p", "", t(key)));
  if (withSignIn) {
    const link = element("a", "button-link primary", t("wall.signIn"));
    link.href = "/";
    box.append(link);
  }
  box.className = "wall-message blocked";
  box.hidden = false;
}

// ------------------------------------------------------------------------------------------ tiles

function renderCameras(list) {
  const seen = new Set();
  for (const camera of list) {
    seen.add(camera.id);
    wall.cameras.set(camera.id, camera);
    if (!wall.tiles.has(camera.id)) addTile(camera);
    updateCamera(camera.id);
  }
  for (const id of [...wall.cameras.keys()]) {
    if (!seen.has(id)) removeCamera(id);
  }
  // The wall shows cameras in the order they were added, as the API lists them. Only misplaced tiles move:
  // a playing video taken out of the page would pause.
  const grid = $("#tiles");
  list.forEach((camera, index) => {
    const tile = wall.tiles.get(camera.id).element;
    if (grid.children[index] !== tile) grid.insertBefore(tile, grid.children[index] ?? null);
  });
  renderEmpty();
  renderEvents();
}

function renderEmpty() {
  if (wall.blocked) return;
  const box = $("#wall-message");
  const empty = wall.cameras.size === 0;
  box.hidden = !empty || wall.focus.id !== null;
  box.className = "wall-message";
  if (empty) box.replaceChildren(element("p", "", t(wall.keeper ? "wall.noCamerasKeeper" : "wall.noCameras")));
}

function addTile(camera) {
  const item = element("li", "cam-tile");
  item.dataset.cameraId = camera.id;
  const video = element("video");
  Object.assign(video, { autoplay: true, muted: true, playsInline: true });
  video.setAttribute("aria-hidden", "true");
  const overlay = element("p", "cam-overlay");
  const top = element("div", "cam-top");
  const status = element("span", "cam-status");
  const motion = element("span", "cam-motion", t("wall.motion"));
  motion.hidden = true;
  top.append(status, motion);
  // The whole tile is one button: Tab reaches it, Enter or a tap enlarges it.
  const open = element("button", "cam-open");
  open.type = "button";
  const caption = element("span", "cam-caption");
  caption.append(element("span", "cam-name"), element("span", "cam-location"));
  open.append(caption);
  open.addEventListener("click", () => enlarge(camera.id));
  const play = element("button", "primary cam-play", t("wall.tapToPlay"));
  play.type = "button";
  play.hidden = true;
  item.append(video, overlay, top, open, play);
  const tile = { element: item, video, overlay, status, motion, open, play, player: null, visible: false, stopTimer: null };
  tile.player = new CameraPlayer(video, camera.id, "sub", {
    onstate: (state, detail) => (detail === "not_authenticated" ? signedOut() : updateCamera(camera.id)),
    cameraOnline: () => wall.cameras.get(camera.id)?.status === "online",
  });
  play.addEventListener("click", () => tile.player.play());
  wall.tiles.set(camera.id, tile);
  wall.observer.observe(item);
}

function updateCamera(id) {
  const camera = wall.cameras.get(id);
  const tile = wall.tiles.get(id);
  if (!camera || !tile) return;
  tile.element.classList.toggle("motion", Boolean(camera.motion));
  tile.element.dataset.status = statusClass(camera);
  showStatus(tile.status, camera);
  tile.motion.hidden = !camera.motion;
  tile.motion.textContent = t("wall.motion");
  tile.open.querySelector(".cam-name").textContent = camera.name;
  tile.open.querySelector(".cam-location").textContent = camera.location;
  const label = [camera.name, camera.location, statusText(camera), camera.motion ? t("wall.motion") : ""];
  tile.open.setAttribute("aria-label", `${label.filter(Boolean).join("，")}。${t("wall.enlarge")}`);
  showNote(tile.overlay, pictureNote(camera, tile.player));
  tile.play.hidden = tile.player.state !== "blocked";
  if (wall.focus.id === id) wall.focus.update();
}

function removeCamera(id) {
  const tile = wall.tiles.get(id);
  if (tile) {
    clearTimeout(tile.stopTimer);
    tile.player.stop();
    wall.observer.unobserve(tile.element);
    tile.element.remove();
    wall.tiles.delete(id);
  }
  wall.cameras.delete(id);
  if (wall.focus.id === id) closeFocus();
  renderEmpty();
  renderEvents();
}

/** Play what is on screen; let go of what is not, after a grace (scrolling, a quick look at one camera). */
function review(tile) {
  const wanted = tile.visible && document.visibilityState === "visible" && !wall.blocked;
  if (wanted) {
    clearTimeout(tile.stopTimer);
    tile.stopTimer = null;
    tile.player.start();
    return;
  }
  if (tile.player.running && tile.stopTimer === null) {
    const grace = document.visibilityState === "visible" ? OFFSCREEN_GRACE_MS : HIDDEN_PAGE_GRACE_MS;
    tile.stopTimer = setTimeout(() => {
      tile.stopTimer = null;
      tile.player.stop();
    }, grace);
  }
}

function stopEverything(leaving) {
  for (const tile of wall.tiles.values()) {
    clearTimeout(tile.stopTimer);
    tile.stopTimer = null;
    tile.player.stop({ leaving });
  }
  wall.focus.stop(leaving);
}

// ------------------------------------------------------------------------------------------ events

function cameraName(cameraId) {
  return wall.cameras.get(cameraId)?.name ?? `${t("wall.unknownCamera")} #${cameraId}`;
}

function renderEvents() {
  const list = $("#events");
  list.replaceChildren();
  for (const event of wall.events) {
    const button = element("button", "event");
    button.type = "button";
    button.classList.toggle("active", !event.ended_at);
    const when = element("time", "event-time", formatTime(event.started_at));
    when.dateTime = event.started_at;
    when.title = fullTime(event.started_at);
    button.append(when, element("span", "event-camera", cameraName(event.camera_id)));
    button.append(element("span", "event-source", t(`wall.source.${event.source}`)));
    if (!event.ended_at) button.append(element("span", "event-active", t("wall.eventActive")));
    button.disabled = !wall.cameras.has(event.camera_id);
    button.addEventListener("click", () => enlarge(event.camera_id));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  $("#no-events").hidden = wall.events.length > 0;
}

async function loadEvents() {
  try {
    const events = await api("GET", `/api/cameras/events?limit=${MAX_EVENTS}`);
    wall.events = events.map(({ id, camera_id, started_at, ended_at, source }) => ({ id, camera_id, started_at, ended_at, source }));
    renderEvents();
  } catch (error) {
    if (isSignedOut(error)) signedOut();
  }
}

// ------------------------------------------------------------------------------------------ the socket

function onMessage(message) {
  if (message.type === "hello") {
    $("#banner").hidden = true;
    document.body.classList.remove("stale");
    renderCameras(message.cameras);
    if (wall.greeted) loadEvents(); // the events while the socket was down
    wall.greeted = true;
    return;
  }
  if (message.type === "camera_removed") {
    removeCamera(message.camera_id);
    return;
  }
  const camera = wall.cameras.get(message.camera_id);
  if (!camera) {
    refreshSoon(); // a camera another keeper just added
    return;
  }
  switch (message.type) {
    case "camera_status":
      camera.status = message.status;
      camera.detail = message.detail;
      break;
    case "stream_status":
      camera.streams = { ...camera.streams, [message.stream]: message.state };
      break;
    case "motion_started":
      camera.motion = true;
      wall.events = wall.events.filter((e) => e.id !== message.event_id);
      wall.events.unshift({ id: message.event_id, camera_id: camera.id, started_at: message.at, ended_at: null, source: message.source });
      wall.events.length = Math.min(wall.events.length, MAX_EVENTS);
      renderEvents();
      break;
    case "motion_ended": {
      camera.motion = false;
      const event = wall.events.find((e) => e.id === message.event_id);
      if (event) event.ended_at = message.at;
      renderEvents();
      break;
    }
    default:
      return;
  }
  updateCamera(camera.id);
}

function refreshSoon() {
  clearTimeout(wall.refreshTimer);
  wall.refreshTimer = setTimeout(async () => {
    try {
      renderCameras(await api("GET", "/api/cameras"));
    } catch (error) {
      if (isSignedOut(error)) signedOut();
    }
  }, 300);
}

function openSocket() {
  const socket = new CameraSocket();
  wall.socket = socket;
  socket.addEventListener("message", (event) => onMessage(event.detail));
  socket.addEventListener("lost", () => {
    const banner = $("#banner");
    banner.textContent = t("wall.socketLost");
    banner.hidden = false;
    document.body.classList.add("stale"); // the badges may be out of date: say so, dim them
  });
  socket.addEventListener("refused", (event) => {
    if (event.detail.code === 4401) signedOut();
    else showBlocked("wall.forbidden", false);
  });
  socket.connect();
}

// ------------------------------------------------------------------------------------------ enlarging

function enlarge(id) {
  if (!wall.cameras.has(id)) return;
  if (location.hash !== `#camera=${id}`) {
    // A history entry of our own: the browser's back button (or a phone's) returns to the wall.
    history.pushState({ wallFocus: id }, "", `#camera=${id}`);
  }
  if (wall.focus.id !== id) openFocus(id);
}

function followHash() {
  const id = Number(new URLSearchParams(location.hash.slice(1)).get("camera"));
  if (id && wall.cameras.has(id)) {
    if (wall.focus.id !== id) openFocus(id);
  } else if (wall.focus.id !== null) {
    closeFocus();
  }
}

function openFocus(id) {
  $("#tiles").hidden = true; // the tiles behind it let their streams go after a grace
  $("#wall-message").hidden = true;
  wall.focus.show(id);
}

function closeFocus() {
  const id = wall.focus.id;
  if (id === null) return;
  wall.focus.hide();
  $("#tiles").hidden = false;
  renderEmpty();
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  wall.tiles.get(id)?.open.focus();
}

function leaveFocus() {
  // Back to the wall the way we came: through history when enlarging made an entry.
  if (history.state?.wallFocus) history.back(); // popstate closes the view
  else closeFocus();
}

// ------------------------------------------------------------------------------------------ start

function renderWho() {
  if (wall.me) $("#who").textContent = `${wall.me.display_name}（${t(`role.${wall.me.role}`)}）`;
}

function retranslate() {
  renderWho();
  for (const id of wall.cameras.keys()) updateCamera(id);
  renderEvents();
  renderEmpty();
  wall.focus.retranslate();
  if (!$("#banner").hidden && document.body.classList.contains("stale")) $("#banner").textContent = t("wall.socketLost");
  if (wall.blocked) {
    $("#wall-message p").textContent = t(wall.blocked);
    const link = $("#wall-message a");
    if (link) link.textContent = t("wall.signIn");
  }
}

function installPageLifecycle() {
  document.addEventListener("visibilitychange", () => {
    for (const tile of wall.tiles.values()) review(tile);
    if (document.visibilityState === "visible") wall.socket?.reconnectSoon();
  });
  window.addEventListener("pagehide", () => {
    stopEverything(true); // each stream's DELETE goes out with keepalive, so the server's ingest can stop
    wall.socket?.close();
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted || wall.blocked) return; // back from the browser's page cache: start again
    wall.socket?.connect();
    for (const tile of wall.tiles.values()) review(tile);
    wall.focus.resume();
  });
  window.addEventListener("popstate", followHash);
  window.addEventListener("hashchange", followHash);
}

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  document.addEventListener("languagechange", retranslate);
  wall.focus = new FocusView({ cameras: wall.cameras, onleave: leaveFocus, onremoved: removeCamera, onsignedout: signedOut });
  wall.observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const tile = wall.tiles.get(Number(entry.target.dataset.cameraId));
      if (!tile) continue;
      tile.visible = entry.isIntersecting;
      review(tile);
    }
  });
  installPageLifecycle();

  try {
    wall.me = await api("GET", "/api/auth/me");
  } catch {
    signedOut();
    return;
  }
  wall.keeper = KEEPERS.has(wall.me.role);
  wall.focus.keeper = wall.keeper;
  renderWho();
  let cameras;
  try {
    cameras = await api("GET", "/api/cameras");
  } catch (error) {
    if (isSignedOut(error)) return signedOut();
    if (error instanceof ApiError && error.status === 403) return showBlocked("wall.forbidden", false);
    // The server is unreachable for now: say so; the socket keeps trying, and its hello brings the cameras.
    $("#banner").textContent = problemText(error);
    $("#banner").hidden = false;
    cameras = [];
  }
  if (wall.keeper) {
    $("#add-camera").hidden = false;
    installAddDialog({
      onadded: (camera) => {
        renderCameras([...wall.cameras.values(), camera]);
        wall.tiles.get(camera.id)?.open.focus();
      },
    });
  }
  renderCameras(cameras);
  followHash(); // /cameras#camera=<id> opens that camera enlarged
  loadEvents();
  openSocket();
}

main();
