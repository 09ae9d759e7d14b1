// One camera enlarged: its main stream, the PTZ pad and keys, its presets, a snapshot, and (for keepers)
// removing it. The wall decides when it opens and closes (history, the back button); this is the view.
import { api, ApiError } from "/static/api.js";
import { CameraPlayer } from "/static/camera-player.js";
import { PtzControl, bindKeys, bindPad } from "/static/camera-ptz.js";
import { element, isSignedOut, pictureNote, problemText, showNote, showStatus, statusText, timeZone } from "/static/camera-status.js";
import { t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);
const NOTE_SHOWN_MS = 4000;

export class FocusView {
  /**
   * cameras: the wall's cameras by id (kept current by the wall's socket).
   * onleave(): Esc or the close button; onremoved(id): a keeper removed the camera; onsignedout().
   */
  constructor({ cameras, onleave, onremoved, onsignedout }) {
    this.cameras = cameras;
    this.onleave = onleave;
    this.onremoved = onremoved;
    this.onsignedout = onsignedout;
    this.keeper = false;
    this.id = null;
    this.player = null;
    this.noteTimer = null;
    this.ptz = new PtzControl({ onerror: (error) => this.showError(error) });
    this.install();
  }

  show(id) {
    if (this.id !== null) this.hide(); // straight from one camera to another
    const camera = this.cameras.get(id);
    this.id = id;
    this.player = new CameraPlayer($("#focus-video"), id, "main", {
      onstate: (state, detail) => (detail === "not_authenticated" ? this.onsignedout() : this.update()),
      cameraOnline: () => this.cameras.get(id)?.status === "online",
    });
    $("#focus").hidden = false;
    $("#focus-error").hidden = true;
    $("#focus-note").hidden = true;
    const movable = Boolean(camera.ptz);
    $("#ptz").hidden = !movable;
    $("#presets").hidden = !movable;
    $("#fixed-note").hidden = movable;
    $("#ptz-zoom").hidden = !(movable && camera.ptz.zoom);
    $("#remove-camera").hidden = !this.keeper;
    this.ptz.use(movable ? id : null);
    this.update();
    this.renderPresets(camera.presets || []);
    if (movable) this.refreshPresets();
    this.player.start();
    $("#focus-stage").focus({ preventScroll: true });
  }

  hide() {
    if (this.id === null) return;
    this.ptz.use(null);
    this.player.stop();
    this.player = null;
    this.id = null;
    $("#focus").hidden = true;
  }

  /** The page goes (leaving: the stream's DELETE must outlive it) or comes back from the browser's cache. */
  stop(leaving = false) {
    this.ptz.release();
    this.player?.stop({ leaving });
  }

  resume() {
    this.player?.start();
  }

  update() {
    const camera = this.cameras.get(this.id);
    if (!camera) return;
    $("#focus-name").textContent = camera.name;
    $("#focus-location").textContent = camera.location;
    showStatus($("#focus-status"), camera);
    $("#focus-motion").hidden = !camera.motion;
    const stage = $("#focus-stage");
    stage.classList.toggle("motion", Boolean(camera.motion));
    stage.setAttribute("aria-label", `${camera.name} ${statusText(camera)}`);
    showNote($("#focus-overlay"), pictureNote(camera, this.player));
    $("#focus-play").hidden = this.player?.state !== "blocked";
  }

  retranslate() {
    if (this.id === null) return;
    this.update();
    this.renderPresets(this.cameras.get(this.id)?.presets || []);
  }

  // ---------------------------------------------------------------------------------------- messages

  note(text) {
    const box = $("#focus-note");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => { box.hidden = true; }, NOTE_SHOWN_MS);
  }

  showError(error) {
    if (isSignedOut(error)) {
      this.onsignedout();
      return;
    }
    const box = $("#focus-error");
    box.textContent = problemText(error);
    box.hidden = false;
  }

  /** Run one action of the view's buttons: its button disabled meanwhile, its failure said plainly. */
  async act(button, action) {
    $("#focus-error").hidden = true;
    if (button) button.disabled = true;
    try {
      await action();
    } catch (error) {
      this.showError(error);
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------- presets

  renderPresets(presets) {
    const list = $("#preset-list");
    list.replaceChildren();
    for (const preset of presets) {
      const item = element("li");
      const label = element("span", "preset-name", preset.name);
      if (preset.desk) label.append(element("small", "", ` · ${preset.desk}`));
      const go = element("button", "", t("wall.goto"));
      go.type = "button";
      go.setAttribute("aria-label", `${t("wall.goto")} ${preset.name}`);
      go.addEventListener("click", () => this.act(go, () => this.gotoPreset(preset)));
      const remove = element("button", "danger", t("wall.deletePreset"));
      remove.type = "button";
      remove.setAttribute("aria-label", `${t("wall.deletePreset")} ${preset.name}`);
      remove.addEventListener("click", () => this.act(remove, () => this.removePreset(preset)));
      item.append(label, go, remove);
      list.append(item);
    }
    $("#no-presets").hidden = presets.length > 0;
  }

  async refreshPresets() {
    const id = this.id;
    try {
      const presets = await api("GET", `/api/cameras/${id}/presets`); // read from the camera itself
      const camera = this.cameras.get(id);
      if (camera) camera.presets = presets;
      if (this.id === id) this.renderPresets(presets);
    } catch (error) {
      if (this.id === id) this.showError(error);
    }
  }

  async gotoPreset(preset) {
    await this.ptz.queue; // after any move still on its way
    await api("POST", `/api/cameras/${this.id}/presets/${encodeURIComponent(preset.token)}/goto`);
    this.note(`${t("wall.wentTo")}${preset.name}`);
  }

  async savePreset() {
    const desk = $("#preset-desk").value.trim();
    await this.ptz.release();
    const body = { name: $("#preset-name").value.trim(), ...(desk ? { desk } : {}) };
    const saved = await api("POST", `/api/cameras/${this.id}/presets`, body);
    $("#preset-form").reset();
    this.note(`${t("wall.presetSaved")}${saved.name}`);
    await this.refreshPresets();
  }

  async removePreset(preset) {
    if (!window.confirm(t("wall.confirmDeletePreset").replace("{name}", preset.name))) return;
    await api("DELETE", `/api/cameras/${this.id}/presets/${encodeURIComponent(preset.token)}`);
    await this.refreshPresets();
  }

  // ---------------------------------------------------------------------------------------- snapshot, removal

  async snapshot() {
    const camera = this.cameras.get(this.id);
    const response = await fetch(`/api/cameras/${this.id}/snapshot`, { credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new ApiError(response.status, body.error || `http_${response.status}`, body.message || response.statusText);
    }
    const url = URL.createObjectURL(await response.blob());
    // Named for the camera and the hall's local time it was taken: 大厅东南角-20260315031245.jpg
    const taken = new Intl.DateTimeFormat("sv-SE", { timeZone: timeZone(), dateStyle: "short", timeStyle: "medium" })
      .format(new Date()).replace(/[^0-9]/g, "");
    const link = Object.assign(document.createElement("a"), { href: url, download: `${camera?.name ?? this.id}-${taken}.jpg` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    this.note(t("wall.snapshotSaved"));
  }

  async removeCamera() {
    const id = this.id;
    const camera = this.cameras.get(id);
    if (!camera || !window.confirm(t("wall.confirmRemove").replace("{name}", camera.name))) return;
    await api("DELETE", `/api/cameras/${id}`);
    this.onremoved(id);
  }

  // ---------------------------------------------------------------------------------------- wiring

  install() {
    bindPad($("#ptz"), this.ptz);
    bindKeys($("#focus-stage"), this.ptz);
    $("#ptz-home").addEventListener("click", () => this.ptz.home());
    $("#ptz-speed").addEventListener("change", (event) => { this.ptz.speed = Number(event.target.value); });
    $("#focus-close").addEventListener("click", () => this.onleave());
    $("#focus-play").addEventListener("click", () => this.player?.play());
    $("#focus").addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.target.closest("input, select")) {
        event.preventDefault();
        this.onleave();
      }
    });
    $("#preset-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.act($("#preset-save"), () => this.savePreset());
    });
    $("#snapshot").addEventListener("click", () => this.act($("#snapshot"), () => this.snapshot()));
    $("#remove-camera").addEventListener("click", () => this.act($("#remove-camera"), () => this.removeCamera()));
    // Never leave a camera turning: a lost window, a hidden tab, stop it.
    window.addEventListener("blur", () => this.ptz.release());
    document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && this.ptz.release());
  }
}
