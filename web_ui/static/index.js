// Sign-in and the lobby: open rooms, enter them, and make invitation links.
import { api, ApiError } from "/static/api.js";
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);
const OPENERS = new Set(["admin", "leader", "staff"]);
const CAMERA_VIEWERS = new Set(["admin", "staff", "security"]);
let me = null;

function showError(target, error) {
  const box = $(target);
  box.hidden = false;
  box.textContent = error instanceof ApiError ? errorText(error.code, error.message) : String(error);
}

async function showLogin() {
  $("#login").hidden = false;
  $("#lobby").hidden = true;
  $("#sign-out").hidden = true;
  $("#who").textContent = "";
  $("#username").focus();
}

async function showLobby() {
  $("#login").hidden = true;
  $("#lobby").hidden = false;
  $("#sign-out").hidden = false;
  $("#who").textContent = `${t("lobby.signedInAs")}：${me.display_name}（${t("role." + me.role)}）`;
  $("#cameras-entry").hidden = !CAMERA_VIEWERS.has(me.role);
  $("#new-room").hidden = !OPENERS.has(me.role);
  $("#invite").hidden = !OPENERS.has(me.role);
  await refreshRooms();
}

async function refreshRooms() {
  let rooms = [];
  try {
    rooms = await api("GET", "/api/rooms");
  } catch (error) {
    if (error.status !== 403) showError("#lobby-error", error);
  }
  const list = $("#rooms");
  list.replaceChildren();
  const invitable = $("#invite-room");
  invitable.replaceChildren();
  for (const room of rooms) {
    const item = document.createElement("li");
    const name = Object.assign(document.createElement("span"), { className: "name", textContent: room.id });
    const count = Object.assign(document.createElement("span"), { textContent: `${room.participants} ${t("lobby.participants")}` });
    const enter = Object.assign(document.createElement("button"), { type: "button", textContent: t("lobby.enter") });
    enter.addEventListener("click", () => enterRoom(room.id));
    item.append(name, count, enter);
    if (OPENERS.has(me.role)) {
      const close = Object.assign(document.createElement("button"), { type: "button", className: "danger", textContent: t("lobby.close") });
      close.addEventListener("click", async () => {
        await api("DELETE", `/api/rooms/${encodeURIComponent(room.id)}`).catch((e) => showError("#lobby-error", e));
        refreshRooms();
      });
      item.append(close);
    }
    list.append(item);
    invitable.append(new Option(room.id, room.id));
  }
  $("#no-rooms").hidden = rooms.length > 0;
}

async function enterRoom(roomId) {
  try {
    const join = await api("POST", `/api/rooms/${encodeURIComponent(roomId)}/join`);
    location.assign(`/rooms/${encodeURIComponent(roomId)}#token=${encodeURIComponent(join.token)}`);
  } catch (error) {
    showError("#lobby-error", error);
  }
}

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  document.addEventListener("languagechange", () => me && showLobby());
  $("#login").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#login-error").hidden = true;
    try {
      await api("POST", "/api/auth/login", { username: $("#username").value, password: $("#password").value });
      me = await api("GET", "/api/auth/me");
      $("#password").value = "";
      await showLobby();
    } catch (error) {
      const box = $("#login-error");
      box.hidden = false;
      box.textContent = error.code === "account_locked" ? t("login.locked") : t("login.failed");
    }
  });
  $("#sign-out").addEventListener("click", async () => {
    await api("POST", "/api/auth/logout").catch(() => {});
    me = null;
    showLogin();
  });
  $("#new-room").addEventListener("submit", async (event) => {
    event.preventDefault();
    const roomId = $("#room-id").value.trim();
    try {
      await api("POST", "/api/rooms", { id: roomId });
    } catch (error) {
      showError("#lobby-error", error);
      return;
    }
    enterRoom(roomId);
  });
  $("#invite").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const link = await api("POST", `/api/rooms/${encodeURIComponent($("#invite-room").value)}/tokens`, {
        role: $("#invite-role").value,
        name: $("#invite-name").value,
        ttl_seconds: Math.round(Number($("#invite-hours").value) * 3600),
      });
      $("#invite-link").textContent = link.url;
      $("#invite-result").hidden = false;
    } catch (error) {
      showError("#lobby-error", error);
    }
  });
  $("#copy-link").addEventListener("click", async () => {
    await navigator.clipboard?.writeText($("#invite-link").textContent);
    $("#copy-link").textContent = t("lobby.copied");
  });
  try {
    me = await api("GET", "/api/auth/me");
    await showLobby();
  } catch {
    showLogin();
  }
}

main();
