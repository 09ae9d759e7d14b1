// The figures (接访统计) the annual evaluation asks for: receptions held, the no-show rate, the average wait
// and the satisfaction rate, for the whole hall and per leader and month.
import { api } from "/static/api.js";
import { applyTranslations, currentLanguage, installLanguageSwitch, t } from "/static/i18n.js";
import { $, dayLabel, element, hallToday, lostSignIn, monthLabel, setStatus, showError, signedIn, tf } from "/static/reception-common.js";

const READERS = new Set(["admin", "leader", "staff", "observer"]);
let figures = null;

function percent(rate) {
  if (rate === null || rate === undefined) return t("common.none");
  return new Intl.NumberFormat(currentLanguage(), { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return t("common.none");
  return new Intl.NumberFormat(currentLanguage(), { maximumFractionDigits: 1 }).format(seconds / 60);
}

function count(value) {
  return new Intl.NumberFormat(currentLanguage()).format(value);
}

function monthText(month) {
  return month ? monthLabel(month) : t("common.none");
}

async function load(event) {
  event?.preventDefault();
  const first = $("#figures-first").value;
  const last = $("#figures-last").value;
  if (!first || !last) return;
  try {
    figures = await api("GET", `/api/figures?${new URLSearchParams({ first, last })}`);
    setStatus("");
  } catch (error) {
    if (!lostSignIn(error)) showError(error);
    return;
  }
  render();
}

function card(key, value, note, name) {
  const wrap = element("div", "figure-card");
  wrap.dataset.figure = name;
  const term = element("dt", "", t(key));
  const data = element("dd", "figure-value", value);
  wrap.append(term, data);
  if (note) wrap.append(element("dd", "figure-note", note));
  return wrap;
}

function render() {
  if (!figures) return;
  const total = figures.total;
  $("#figures-period").textContent = `${dayLabel(figures.first)} – ${dayLabel(figures.last)}`;
  const wait = total.average_wait_seconds === null ? t("common.none") : tf("reports.minutesValue", { value: minutes(total.average_wait_seconds) });
  $("#figures-total").replaceChildren(
    card("reports.held", count(total.held), tf("reports.cancelled", { count: total.cancelled }), "held"),
    card("reports.noShowRate", percent(total.no_show_rate), tf("reports.noShows", { count: total.no_shows }), "no_show_rate"),
    card("reports.averageWait", wait, "", "average_wait"),
    card("reports.satisfaction", percent(total.satisfaction_rate), tf("reports.rated", { satisfied: total.satisfied, rated: total.rated }), "satisfaction_rate"),
  );
  const body = $("#figures-table tbody");
  body.replaceChildren();
  for (const row of figures.rows) {
    const line = element("tr");
    line.dataset.leaderId = row.leader_id;
    line.dataset.month = row.month;
    const cells = [
      [row.leader_name, ""],
      [monthText(row.month), ""],
      [count(row.held), "number"],
      [count(row.no_shows), "number"],
      [count(row.cancelled), "number"],
      [percent(row.no_show_rate), "number"],
      [minutes(row.average_wait_seconds), "number"],
      [count(row.rated), "number"],
      [percent(row.satisfaction_rate), "number"],
    ];
    cells.forEach(([text, className], index) => {
      const cell = element(index === 0 ? "th" : "td", className, text);
      if (index === 0) cell.scope = "row";
      line.append(cell);
    });
    body.append(line);
  }
  $("#figures-empty").hidden = figures.rows.length > 0;
}

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  const me = await signedIn(READERS);
  if (!me) return;
  document.addEventListener("languagechange", () => {
    render();
  });
  const today = hallToday();
  $("#figures-first").value = `${today.slice(0, 4)}-01-01`;
  $("#figures-last").value = today;
  $("#figures-form").addEventListener("submit", load);
  await load();
}

main();
