// The "add camera" dialog for camera keepers (security, admin): look for ONVIF cameras on the network,
// fill in the form from one, and add it. The server checks the camera before saving anything, so its
// answer (wrong password, nothing at that address...) is shown here, translated by its code.
import { api, ApiError } from "/static/api.js";
import { errorText, t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);

function showError(box, error) {
  box.hidden = false;
  box.textContent = error instanceof ApiError ? errorText(error.code, error.message) : errorText("network", String(error));
}

export function installAddDialog({ onadded }) {
  const dialog = $("#add-dialog");
  const form = $("#add-form");
  const error = $("#add-error");
  const submit = $("#add-submit");

  $("#add-camera").addEventListener("click", () => {
    error.hidden = true;
    $("#discover-results").replaceChildren();
    $("#discover-status").textContent = "";
    dialog.showModal();
    $("#add-name").focus();
  });
  $("#add-cancel").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = t("wall.add.checking");
    try {
      const camera = await api("POST", "/api/cameras", {
        name: $("#add-name").value.trim(),
        location: $("#add-location").value.trim(),
        host: $("#add-host").value.trim(),
        port: Number($("#add-port").value) || 80,
        username: $("#add-username").value,
        password: $("#add-password").value,
        motion_detection: $("#add-motion").checked,
      });
      form.reset();
      dialog.close();
      onadded(camera);
    } catch (failure) {
      showError(error, failure);
    } finally {
      $("#add-password").value = "";
      submit.disabled = false;
      submit.textContent = t("wall.add.submit");
    }
  });

  $("#discover-run").addEventListener("click", async () => {
    const button = $("#discover-run");
    const status = $("#discover-status");
    const results = $("#discover-results");
    const address = $("#discover-address").value.trim();
    error.hidden = true;
    button.disabled = true;
    status.textContent = t("wall.discover.searching");
    results.replaceChildren();
    try {
      const found = await api("POST", "/api/cameras/discover", { timeout: 3, ...(address ? { address } : {}) });
      status.textContent = found.length ? "" : t("wall.discover.none");
      for (const camera of found) results.append(foundItem(camera));
    } catch (failure) {
      status.textContent = "";
      showError(error, failure);
    } finally {
      button.disabled = false;
    }
  });
}

function foundItem(camera) {
  const item = document.createElement("li");
  const text = document.createElement("span");
  const title = [camera.name, camera.hardware].filter(Boolean).join(" · ") || camera.host;
  text.append(Object.assign(document.createElement("strong"), { textContent: title }), ` ${camera.host}:${camera.port}`);
  if (camera.location) text.append(` · ${camera.location}`);
  item.append(text);
  if (camera.registered) {
    item.append(Object.assign(document.createElement("span"), { className: "cam-tag", textContent: t("wall.discover.registered") }));
  } else {
    const use = Object.assign(document.createElement("button"), { type: "button", textContent: t("wall.discover.use") });
    use.addEventListener("click", () => {
      $("#add-host").value = camera.host;
      $("#add-port").value = camera.port;
      if (!$("#add-name").value) $("#add-name").value = camera.name || "";
      if (!$("#add-location").value) $("#add-location").value = camera.location || "";
      $("#add-username").focus();
    });
    item.append(use);
  }
  return item;
}
