// The reception console (接访台): today's petitioners with who is waiting, the reception room (own camera out,
// the petitioner's picture in), letting the petitioner in, and writing the outcome that ends the reception.
// Leaders see their own receptions; staff and admins pick a leader and may sit in.
import { api } from "/static/api.js";
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";
import {
  $, dateTime, dayLabel, describe, duration, element, every, leaderName, lostSignIn, setStatus, showError,
  showGate, signedIn, span, stateBadge, tf,
} from "/static/reception-common.js";
import { publishStream, subscribeTo } from "/static/room-media.js";
import { RoomSocket } from "/static/signalling.js";

const HOSTS = new Set(["admin", "leader", "staff"]);
const SITTERS = new Set(["admin", "staff"]);
const REFRESH_MS = 5000;
const JOINABLE = new Set(["confirmed", "waiting", "in_session", "no_show"]);
const ADMITTABLE = new Set(["confirmed", "waiting", "no_show"]);
const VIDEO_MAX_BITRATE = 1_200_000; // as the room page: 720p talking heads
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const PERMANENT_ERRORS = new Set(["invalid_token", "not_authenticated", "forbidden", "room_closed", "close_4401", "close_4403", "close_4410"]);
const LEADER_KEY = "hall.console.leader";

const consoleState = {
  me: null,
  leaders: [],
  today: null, // { day, appointments }
  selectedId: null,
  detail: null, // the selected appointment's full record (earlier visits)
  firstSeenWaiting: new Map(), // appointment id -> ms, when arrived_at is not known
  refreshTimer: null,
};

const room = {
  id: null,
  appointmentId: null,
  socket: null,
  me: null,
  iceServers: [],
  localStream: null,
  publishPc: null,
  publishSessionId: null,
  subscriptions: new Map(), // participant id -> { pc, sessionId, stream }
  pendingSubscribe: new Map(), // participant id -> timer
  participants: new Map(), // participant id -> info
  leaving: false,
  audioMuted: false,
  videoMuted: false,
};

// ------------------------------------------------------------------------------------------ today's list

function selected() {
  const row = consoleState.today?.appointments.find((a) => a.id === consoleState.selectedId);
  if (!row) return null;
  // The list is the fresher of the two; only the single GET carries the history and the earlier visits.
  const detail = consoleState.detail?.id === row.id ? consoleState.detail : null;
  return detail ? { ...row, history: detail.history, earlier_visits: detail.earlier_visits } : row;
}

async function refresh() {
  const params = new URLSearchParams();
  const leader = $("#leader-select").value;
  if (SITTERS.has(consoleState.me.role) && leader) params.set("leader_id", leader);
  try {
    consoleState.today = await api("GET", `/api/reception/today?${params}`);
  } catch (error) {
    if (lostSignIn(error)) return;
    if (error.status === 403 && consoleState.me.role === "leader") {
      showGate("gate.noLeader", false);
      return;
    }
    showError(error);
    return;
  }
  if (consoleState.selectedId !== null && !consoleState.today.appointments.some((a) => a.id === consoleState.selectedId)) {
    consoleState.selectedId = null;
    consoleState.detail = null;
  }
  renderList();
  renderReception();
}

/** Refresh soon, once, after a burst of room events. */
function refreshSoon() {
  clearTimeout(consoleState.refreshTimer);
  consoleState.refreshTimer = setTimeout(refresh, 300);
}

function isWaiting(appointment) {
  if (appointment.presence === "waiting") return true;
  // The room may know before the list does.
  return [...room.participants.values()].some((p) => p.waiting && p.attributes?.appointment === String(appointment.id));
}

function waitingSince(appointment) {
  if (appointment.arrived_at) return new Date(appointment.arrived_at).getTime();
  if (!consoleState.firstSeenWaiting.has(appointment.id)) consoleState.firstSeenWaiting.set(appointment.id, Date.now());
  return consoleState.firstSeenWaiting.get(appointment.id);
}

function renderList() {
  const list = $("#today-list");
  const appointments = consoleState.today?.appointments ?? [];
  $("#today-date").textContent = consoleState.today ? dayLabel(consoleState.today.day) : "";
  $("#today-empty").hidden = appointments.length > 0;
  const rows = new Map([...list.children].map((item) => [item.dataset.appointmentId, item]));
  const wanted = [];
  for (const appointment of appointments) {
    const id = String(appointment.id);
    let item = rows.get(id);
    if (!item) item = newRow(appointment);
    rows.delete(id);
    fillRow(item, appointment);
    wanted.push(item);
  }
  for (const stale of rows.values()) stale.remove();
  // Only misplaced rows move: moving a row takes the keyboard focus away from it.
  wanted.forEach((item, index) => {
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
  });
  tickTimers();
}

function newRow(appointment) {
  const item = element("li", "today-row");
  item.dataset.appointmentId = appointment.id;
  const button = element("button", "today-select");
  button.type = "button";
  button.append(
    element("span", "today-time"),
    element("span", "today-name"),
    element("span", "today-subject"),
  );
  const badges = element("span", "today-badges");
  badges.append(element("span", "today-state"), element("span", "presence"), element("span", "wait-timer"));
  button.append(badges);
  button.addEventListener("click", () => select(appointment.id));
  item.append(button);
  return item;
}

function fillRow(item, appointment) {
  const waiting = isWaiting(appointment);
  item.className = `today-row state-row-${appointment.state}` + (waiting ? " waiting" : "")
    + (appointment.id === consoleState.selectedId ? " selected" : "");
  item.querySelector(".today-select").setAttribute("aria-pressed", appointment.id === consoleState.selectedId ? "true" : "false");
  item.querySelector(".today-time").textContent = span(appointment.starts_at, appointment.ends_at);
  const leader = SITTERS.has(consoleState.me.role) && !$("#leader-select").value ? ` · ${appointment.leader.name}` : "";
  item.querySelector(".today-name").textContent = appointment.petitioner_name + leader;
  item.querySelector(".today-subject").textContent = appointment.subject || "";
  // A waiting petitioner is shown once, by the presence badge with its timer.
  const sayState = !(waiting && appointment.state === "waiting");
  item.querySelector(".today-state").replaceChildren(...(sayState ? [stateBadge(appointment.state)] : []));
  const presence = item.querySelector(".presence");
  const where = waiting ? "waiting" : appointment.presence;
  presence.textContent = where ? t(`presence.${where}`) : "";
  presence.className = `presence${where ? " presence-" + where : ""}`;
  presence.hidden = !where;
  const timer = item.querySelector(".wait-timer");
  timer.hidden = !waiting;
  if (waiting) timer.dataset.since = waitingSince(appointment);
  else delete timer.dataset.since;
}

function tickTimers() {
  for (const timer of document.querySelectorAll(".wait-timer[data-since]")) {
    timer.textContent = tf("console.waitedFor", { time: duration((Date.now() - Number(timer.dataset.since)) / 1000) });
  }
}

// ------------------------------------------------------------------------------------------ the selected reception

async function select(appointmentId) {
  if (consoleState.selectedId !== appointmentId) {
    saveNotes();
    $("#outcome-notes").value = sessionStorage.getItem(notesKey(appointmentId)) || "";
  }
  consoleState.selectedId = appointmentId;
  consoleState.detail = null;
  renderList();
  renderReception();
  // One column on a narrow screen: the chosen reception is below the list, out of sight.
  if (window.matchMedia("(max-width: 64rem)").matches) $("#reception").scrollIntoView({ behavior: "smooth", block: "start" });
  try {
    consoleState.detail = await api("GET", `/api/appointments/${appointmentId}`);
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  if (consoleState.selectedId === appointmentId) {
    renderReception();
    renderOthers();
  }
}

function notesKey(appointmentId) {
  return `hall.console.notes.${appointmentId}`;
}

function saveNotes() {
  if (consoleState.selectedId === null) return;
  const notes = $("#outcome-notes").value;
  if (notes) sessionStorage.setItem(notesKey(consoleState.selectedId), notes);
  else sessionStorage.removeItem(notesKey(consoleState.selectedId));
}

function renderReception() {
  const a = selected();
  $("#pick-hint").hidden = Boolean(a);
  $("#reception").hidden = !a;
  const inThisRoom = Boolean(a && room.socket && room.id === a.room_id);
  $("#room-stage").hidden = !room.socket;
  if (!a) {
    $("#outcome").hidden = true;
    return;
  }
  $("#reception-heading").textContent = `${span(a.starts_at, a.ends_at)} ${a.petitioner_name}`;
  $("#reception-state").replaceChildren(stateBadge(a.state));
  const facts = $("#reception-facts");
  facts.replaceChildren();
  for (const [key, value] of [
    ["console.subject", a.subject || t("common.none")],
    ["console.phone", a.phone_masked],
    ["sched.number", a.number],
    ["console.leader", leaderName(a.leader)],
  ]) {
    facts.append(element("dt", "", t(key)), element("dd", "", value));
  }
  renderOutcome(a);
  renderEarlier(a);
  const waiting = isWaiting(a);
  $("#console-actions").hidden = !JOINABLE.has(a.state) && !room.socket;
  $("#join-room").hidden = inThisRoom;
  $("#join-room").disabled = !JOINABLE.has(a.state);
  $("#leave-room").hidden = !room.socket;
  $("#admit").disabled = !(waiting && ADMITTABLE.has(a.state));
  $("#admit").classList.toggle("primary", waiting && ADMITTABLE.has(a.state));
  $("#admit-hint").hidden = waiting || !ADMITTABLE.has(a.state);
  $("#outcome").hidden = !(a.state === "in_session" || a.state === "waiting" || inThisRoom);
  $("#end-reception").disabled = a.state !== "in_session";
}

function renderOutcome(a) {
  const box = $("#reception-outcome");
  box.hidden = !a.outcome;
  if (!a.outcome) return;
  const facts = element("dl", "facts");
  facts.append(element("dt", "", t("console.result")), element("dd", "", t(`result.${a.outcome.result}`)));
  if (a.outcome.notes) facts.append(element("dt", "", t("console.notes")), element("dd", "", a.outcome.notes));
  box.replaceChildren(element("h3", "", t("console.outcome")), facts);
}

function renderEarlier(a) {
  const box = $("#reception-earlier");
  box.replaceChildren();
  if (!consoleState.detail) return;
  box.append(element("h3", "", t("sched.earlier")));
  if (!a.earlier_visits?.length) {
    box.append(element("p", "hint", t("sched.noEarlier")));
    return;
  }
  const list = element("ul", "earlier");
  for (const visit of a.earlier_visits) {
    const item = element("li");
    item.append(element("span", "muted", `${dateTime(visit.starts_at)} · ${visit.number} · ${visit.leader_name}`), " ");
    item.append(stateBadge(visit.state));
    if (visit.result) item.append(" ", element("span", "tag", t(`result.${visit.result}`)));
    if (visit.subject) item.append(element("div", "", visit.subject));
    list.append(item);
  }
  box.append(list);
}

async function admit() {
  const a = selected();
  if (!a) return;
  $("#admit").disabled = true;
  try {
    await api("POST", `/api/appointments/${a.id}/admit`);
    setStatus(t("console.admitted"), "ok");
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  }
  await refresh();
}

async function endReception(event) {
  event.preventDefault();
  const a = selected();
  if (!a) return;
  if (a.state !== "in_session") {
    setStatus(t("console.endConfirmNeedsSession"), "error");
    return;
  }
  $("#end-reception").disabled = true;
  try {
    const done = await api("POST", `/api/appointments/${a.id}/end`, {
      result: $("#outcome-result").value,
      notes: $("#outcome-notes").value.trim(),
    });
    sessionStorage.removeItem(notesKey(a.id));
    $("#outcome-notes").value = "";
    consoleState.detail = done;
    const next = stillInRoom(a);
    if (next) {
      // A joint reception: the slot's other petitioners are still here, and so is the leader. The room
      // is now theirs (a reconnect joins on their appointment) and the next one takes the stage.
      room.appointmentId = next.id;
      setStatus(tf("console.endedOthersStay", { number: done.number, name: next.petitioner_name }), "ok");
      await refresh();
      await select(next.id);
      return;
    }
    if (room.appointmentId === a.id || room.id === a.room_id) leave(false);
    setStatus(tf("console.ended", { number: done.number }), "ok");
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  }
  await refresh();
}

/** Another petitioner of this reception's slot still in its room (in session first, then waiting), if the
 * console is there too: ending one of a joint reception does not end the others. */
function stillInRoom(ended) {
  if (!room.socket || room.id !== ended.room_id) return null;
  const present = new Set([...room.participants.values()].map((p) => p.attributes?.appointment).filter(Boolean));
  const others = (consoleState.today?.appointments ?? []).filter(
    (other) => other.id !== ended.id && other.room_id === ended.room_id && JOINABLE.has(other.state)
      && (other.state === "in_session" || isWaiting(other) || present.has(String(other.id))),
  );
  return others.find((other) => other.state === "in_session") ?? others[0] ?? null;
}

// ------------------------------------------------------------------------------------------ the room

async function join() {
  const a = selected();
  if (!a) return;
  if (room.socket && room.id !== a.room_id) leave(false);
  $("#join-room").disabled = true;
  setStatus(t("console.joining"));
  room.leaving = false;
  if (!room.localStream) await acquireMedia();
  const outcome = await enter(a.id, a.room_id);
  if (outcome === "retry") reconnect(1);
  renderReception();
}

async function acquireMedia() {
  try {
    room.localStream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 25, max: 30 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
  } catch {
    room.localStream = null;
  }
  $("#local-video").srcObject = room.localStream;
}

/** Join (again) with a fresh token: "ok", "retry" (try later) or "stop". */
async function enter(appointmentId, roomId) {
  let welcome;
  try {
    const pass = await api("POST", `/api/appointments/${appointmentId}/join`);
    room.socket = new RoomSocket(roomId, pass.token);
    room.id = roomId;
    room.appointmentId = appointmentId;
    welcome = await room.socket.connect();
  } catch (error) {
    room.socket = null;
    if (lostSignIn(error)) return "stop";
    const permanent = PERMANENT_ERRORS.has(error.code) || (error.status && error.status < 500 && error.status !== 429);
    setStatus(describe(error), "error");
    return permanent ? "stop" : "retry";
  }
  room.me = welcome.participant;
  room.iceServers = welcome.ice_servers;
  room.participants.clear();
  listen(room.socket);
  for (const participant of welcome.roster) {
    if (participant.id === room.me.id) continue;
    room.participants.set(participant.id, participant);
    if (participant.publications.length && !participant.waiting) subscribe(participant.id);
  }
  setStatus(room.localStream ? "" : t("console.noCamera"), room.localStream ? "" : "error");
  renderReception();
  renderOthers();
  if (welcome.permissions.publish && room.localStream) await publish();
  setControlsEnabled();
  return "ok";
}

function listen(socket) {
  socket.addEventListener("participant_joined", ({ detail }) => {
    room.participants.set(detail.participant.id, detail.participant);
    renderOthers();
    refreshSoon();
  });
  socket.addEventListener("participant_left", ({ detail }) => {
    room.participants.delete(detail.participant.id);
    closeSubscription(detail.participant.id);
    renderOthers();
    placeStreams();
    refreshSoon();
  });
  socket.addEventListener("participant_updated", ({ detail }) => {
    const before = room.participants.get(detail.participant.id);
    room.participants.set(detail.participant.id, detail.participant);
    if (before?.waiting !== detail.participant.waiting) {
      renderOthers();
      refreshSoon();
    }
  });
  socket.addEventListener("track_published", ({ detail }) => {
    if (detail.participant.id === room.me?.id) return;
    room.participants.set(detail.participant.id, detail.participant);
    // Audio and video are announced one after the other: subscribe once to both.
    clearTimeout(room.pendingSubscribe.get(detail.participant.id));
    room.pendingSubscribe.set(detail.participant.id, setTimeout(() => subscribe(detail.participant.id), 250));
  });
  socket.addEventListener("track_unpublished", ({ detail }) => {
    if (detail.participant.id !== room.me?.id) closeSubscription(detail.participant.id);
  });
  socket.addEventListener("room_closed", () => {
    room.leaving = true;
    leave(false);
    setStatus(t("console.roomClosed"));
  });
  socket.addEventListener("closed", ({ detail }) => {
    if (room.leaving || socket !== room.socket) return;
    teardownMedia();
    if (PERMANENT_ERRORS.has(detail.reason) || PERMANENT_ERRORS.has(`close_${detail.code}`)) {
      leave(false);
      setStatus(errorText(detail.reason || `close_${detail.code}`, detail.reason), "error");
      return;
    }
    reconnect(0);
  });
}

async function reconnect(attempt) {
  if (attempt === 0) setStatus(t("console.reconnecting"), "error");
  const { appointmentId, id } = room;
  await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]));
  if (room.leaving || appointmentId === null) return;
  const outcome = await enter(appointmentId, id);
  if (outcome === "retry" && attempt < 8) reconnect(attempt + 1);
  else if (outcome !== "ok") leave(false);
}

function watchConnection(pc, onFailure) {
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" && !room.leaving) onFailure();
  });
}

async function publish() {
  try {
    await publishStream(() => room.socket, room.localStream, room.iceServers, {
      maxBitrate: VIDEO_MAX_BITRATE,
      onPeer: (pc) => {
        room.publishPc = pc;
        watchConnection(pc, () => {
          if (room.publishSessionId) room.socket?.send({ type: "end_session", session_id: room.publishSessionId });
          pc.close();
          room.publishPc = null;
          setTimeout(() => !room.leaving && room.socket && publish(), 2000);
        });
      },
      onSession: (sessionId) => (room.publishSessionId = sessionId),
    });
  } catch (error) {
    if (room.socket) setStatus(describe(error), "error");
    room.publishPc = null;
    return;
  }
  if (room.audioMuted || room.videoMuted) {
    room.socket.send({ type: "mute", audio: room.audioMuted, video: room.videoMuted });
  }
}

async function subscribe(participantId) {
  room.pendingSubscribe.delete(participantId);
  if (room.subscriptions.has(participantId) || !room.participants.has(participantId) || !room.socket) return;
  let entry;
  try {
    await subscribeTo(() => room.socket, participantId, room.iceServers, {
      onPeer: (pc, stream) => {
        entry = { pc, sessionId: null, stream };
        room.subscriptions.set(participantId, entry);
        watchConnection(pc, () => {
          closeSubscription(participantId);
          setTimeout(() => !room.leaving && subscribe(participantId), 2000);
        });
      },
      onSession: (sessionId) => (entry.sessionId = sessionId),
      onTrack: () => placeStreams(),
    });
  } catch (error) {
    room.subscriptions.delete(participantId);
    if (!["nothing_published", "participant_not_found", undefined].includes(error.code)) setStatus(describe(error), "error");
  }
}

function closeSubscription(participantId) {
  const entry = room.subscriptions.get(participantId);
  if (!entry) return;
  room.subscriptions.delete(participantId);
  if (entry.sessionId) room.socket?.send({ type: "end_session", session_id: entry.sessionId });
  entry.pc.close();
  placeStreams();
}

/** The selected petitioner's picture goes to the big video; everyone else's (staff sitting in, another
 * petitioner of a shared slot) to the small tiles. */
function isMainPetitioner(participant) {
  if (!participant) return false;
  const selectedId = consoleState.selectedId ?? room.appointmentId;
  return participant.attributes?.appointment === String(selectedId);
}

function placeStreams() {
  const remote = $("#remote-video");
  let main = null;
  for (const [participantId, entry] of room.subscriptions) {
    const participant = room.participants.get(participantId);
    if (isMainPetitioner(participant)) main = entry;
  }
  const stream = main?.stream ?? null;
  if (remote.srcObject !== stream) remote.srcObject = stream;
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  $("#remote-tile").classList.toggle("no-video", !hasVideo);
  $("#remote-empty").hidden = hasVideo;
  if (stream) play(remote);
  for (const tile of document.querySelectorAll("#others .stage-other")) {
    const entry = room.subscriptions.get(tile.dataset.participantId);
    const video = tile.querySelector("video");
    const other = entry?.stream ?? null;
    if (video.srcObject !== other) video.srcObject = other;
    tile.classList.toggle("no-video", !other?.getVideoTracks().length);
    if (other) play(video);
  }
}

function play(video) {
  video.play().catch((error) => {
    if (error.name !== "NotAllowedError") return;
    // Sound may not start without a tap on some browsers.
    const button = $("#tap-to-play");
    button.hidden = false;
    button.onclick = () => {
      for (const each of document.querySelectorAll("#room-stage video")) each.play().catch(() => {});
      button.hidden = true;
    };
  });
}

function renderOthers() {
  const box = $("#others");
  const wanted = [...room.participants.values()].filter((p) => !p.waiting && !isMainPetitioner(p));
  const ids = new Set(wanted.map((p) => p.id));
  for (const tile of [...box.children]) if (!ids.has(tile.dataset.participantId)) tile.remove();
  for (const participant of wanted) {
    if (box.querySelector(`[data-participant-id="${CSS.escape(participant.id)}"]`)) continue;
    const tile = element("div", "stage-other no-video");
    tile.dataset.participantId = participant.id;
    const video = element("video");
    Object.assign(video, { autoplay: true, playsInline: true });
    tile.append(video, element("span", "stage-label", `${participant.name}（${t("role." + participant.role)}）`));
    box.append(tile);
  }
  placeStreams();
}

function teardownMedia() {
  for (const id of [...room.subscriptions.keys()]) closeSubscription(id);
  for (const timer of room.pendingSubscribe.values()) clearTimeout(timer);
  room.pendingSubscribe.clear();
  room.publishPc?.close();
  room.publishPc = null;
  room.publishSessionId = null;
}

/** Leave the reception room: end the media, close the socket, let go of the camera. */
function leave(announce = true) {
  room.leaving = true;
  teardownMedia();
  const socket = room.socket;
  room.socket = null;
  socket?.close();
  room.participants.clear();
  room.id = null;
  room.appointmentId = null;
  for (const track of room.localStream?.getTracks() ?? []) track.stop();
  room.localStream = null;
  $("#local-video").srcObject = null;
  $("#remote-video").srcObject = null;
  $("#others").replaceChildren();
  $("#tap-to-play").hidden = true;
  if (announce) setStatus(t("console.left"));
  renderReception();
}

// ------------------------------------------------------------------------------------------ own camera and microphone

const MUTE_CONTROLS = {
  audio: { button: "#toggle-mic", flag: "audioMuted", tracks: "getAudioTracks", on: "console.mute", off: "console.unmute" },
  video: { button: "#toggle-camera", flag: "videoMuted", tracks: "getVideoTracks", on: "console.cameraOff", off: "console.cameraOn" },
};

function toggleMute(kind) {
  const control = MUTE_CONTROLS[kind];
  const muted = (room[control.flag] = !room[control.flag]);
  for (const track of room.localStream?.[control.tracks]() ?? []) track.enabled = !muted;
  const button = $(control.button);
  button.dataset.i18n = muted ? control.off : control.on;
  button.textContent = t(button.dataset.i18n);
  button.classList.toggle("off", muted);
  room.socket?.send({ type: "mute", [kind]: muted });
}

function setControlsEnabled() {
  $("#toggle-mic").disabled = !room.localStream?.getAudioTracks().length;
  $("#toggle-camera").disabled = !room.localStream?.getVideoTracks().length;
}

// ------------------------------------------------------------------------------------------ start

async function loadLeaders() {
  if (!SITTERS.has(consoleState.me.role)) return;
  try {
    consoleState.leaders = await api("GET", "/api/leaders");
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
  }
  fillLeaderSelect();
  $("#leader-field").hidden = false;
}

function fillLeaderSelect() {
  const select = $("#leader-select");
  const chosen = select.value || localStorage.getItem(LEADER_KEY) || "";
  select.replaceChildren(new Option(t("common.allLeaders"), ""));
  for (const leader of consoleState.leaders) select.append(new Option(leaderName(leader), String(leader.id)));
  select.value = [...select.options].some((option) => option.value === chosen) ? chosen : "";
}

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  consoleState.me = await signedIn(HOSTS);
  if (!consoleState.me) return;
  document.addEventListener("languagechange", () => {
    if (SITTERS.has(consoleState.me.role)) fillLeaderSelect();
    for (const item of document.querySelectorAll("#today-list > li")) {
      const appointment = consoleState.today?.appointments.find((a) => String(a.id) === item.dataset.appointmentId);
      if (appointment) fillRow(item, appointment);
    }
    tickTimers();
    renderReception();
    renderOthers();
  });
  $("#leader-select").addEventListener("change", () => {
    localStorage.setItem(LEADER_KEY, $("#leader-select").value);
    refresh();
  });
  $("#today-refresh").addEventListener("click", refresh);
  $("#join-room").addEventListener("click", join);
  $("#admit").addEventListener("click", admit);
  $("#leave-room").addEventListener("click", () => leave(true));
  $("#outcome").addEventListener("submit", endReception);
  $("#outcome-notes").addEventListener("input", saveNotes);
  $("#toggle-mic").addEventListener("click", () => toggleMute("audio"));
  $("#toggle-camera").addEventListener("click", () => toggleMute("video"));
  window.addEventListener("pagehide", () => {
    room.leaving = true;
    room.socket?.close();
  });
  await loadLeaders();
  await refresh();
  every(REFRESH_MS, refresh);
  setInterval(tickTimers, 1000);
}

main();
