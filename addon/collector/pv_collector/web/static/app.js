// PV Monitor collector page: overview, devices, tools and log of one collector, live over server-sent
// events. Plain JavaScript, no framework, no build step; every URL is relative to the page's base URL so
// the page works under Home Assistant's ingress path. Nothing here writes to a device.
"use strict";

(() => {
  const LANGUAGES = ["en", "de"];
  const EXPLORER_TYPES = ["u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64", "string"];
  const THEME_VARIABLES = [
    "primary-color", "accent-color", "primary-background-color", "secondary-background-color",
    "card-background-color", "primary-text-color", "secondary-text-color", "text-primary-color",
    "disabled-text-color", "divider-color", "error-color", "warning-color", "success-color", "info-color",
    "app-header-background-color", "app-header-text-color", "ha-card-border-radius", "ha-card-border-color",
    "ha-card-box-shadow", "ha-font-family-body", "code-font-family",
  ];
  const LOG_LEVELS = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };
  const DEVICE_LOG_LINES = 30;
  const DEVICE_REFRESH_MS = 10000;
  const MAX_LOG_ROWS = 500;

  const app = {
    lang: "en",
    locale: "en", // the browser's own locale when it speaks the page's language (dates, numbers)
    strings: {},
    fallback: {},
    status: null,
    offset: 0, // server clock minus browser clock, seconds
    route: { name: "overview" },
    device: null, // the device view's state
    logLines: [],
    logFilter: { device: "", level: "info" },
    refreshTimer: null,
  };

  // ------------------------------------------------------------------------------------------ helpers

  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") element.className = value;
      else if (key === "text") element.textContent = value;
      else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
      else element.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function t(key, vars) {
    let text = app.strings[key] ?? app.fallback[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) text = text.replaceAll(`{${name}}`, value);
    return text;
  }

  function tOr(key, fallback) {
    return app.strings[key] ?? app.fallback[key] ?? fallback;
  }

  const now = () => Date.now() / 1000 + app.offset;

  function number(value, digits) {
    const options = digits === undefined || digits === null
      ? { maximumFractionDigits: 3 }
      : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    return new Intl.NumberFormat(app.locale, options).format(value);
  }

  function percent(share) {
    if (share === null || share === undefined) return "–";
    const digits = share < 0.001 ? 2 : share < 0.1 ? 1 : 0;
    return new Intl.NumberFormat(app.locale, {
      style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(share);
  }

  function seconds(value) {
    if (value === null || value === undefined) return "–";
    if (value < 1) return `${number(value * 1000, value < 0.01 ? 1 : 0)} ms`;
    return `${number(value, value < 10 ? 1 : 0)} s`;
  }

  function clock(ts) {
    const date = new Date(ts * 1000);
    const sameDay = Math.abs(now() - ts) < 12 * 3600;
    return new Intl.DateTimeFormat(app.locale, sameDay
      ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
      : { dateStyle: "medium", timeStyle: "medium" }).format(date);
  }

  function relative(ts) {
    if (ts === null || ts === undefined) return t("common.never");
    const delta = ts - now();
    const rtf = new Intl.RelativeTimeFormat(app.locale, { numeric: "auto" });
    const size = Math.abs(delta);
    if (size < 60) return rtf.format(Math.round(delta), "second");
    if (size < 3600) return rtf.format(Math.round(delta / 60), "minute");
    if (size < 86400) return rtf.format(Math.round(delta / 3600), "hour");
    return rtf.format(Math.round(delta / 86400), "day");
  }

  function timeCell(ts) {
    if (ts === null || ts === undefined) return h("span", { class: "muted", text: t("common.never") });
    return h("span", { title: clock(ts), text: relative(ts) });
  }

  function formatValue(point, value) {
    if (value === undefined || value === null) return "–";
    if (typeof value === "boolean") return value ? "✓" : "✗";
    if (typeof value === "number") {
      const text = number(value, point && point.precision);
      return point && point.unit ? `${text} ${point.unit}` : text;
    }
    return String(value);
  }

  const AVAILABILITY_CHIPS = { online: "chip-ok", offline: "chip-error", asleep: "chip-sleep" };

  function availabilityChip(availability) {
    return h("span", {
      class: `chip ${AVAILABILITY_CHIPS[availability] || "chip-neutral"}`,
      "data-availability": availability,
      text: t(`availability.${availability}`),
    });
  }

  function reasonText(device) {
    if (!device.reason) return null;
    return tOr(`reason.${device.reason}`, device.reason);
  }

  function card(title, ...children) {
    return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
  }

  function table(headers, rows, options = {}) {
    return h("div", { class: "table-wrap" },
      h("table", { class: options.stack ? "stack" : "" },
        h("thead", {}, h("tr", {}, headers.map((header) => h("th", {
          class: header.num ? "num" : "", text: header.label,
        })))),
        h("tbody", {}, rows)));
  }

  function cell(label, content, className) {
    return h("td", { "data-label": label, class: className || "" }, content);
  }

  // ------------------------------------------------------------------------------------------ Home Assistant

  function homeAssistant() {
    // Inside Home Assistant the page is an ingress iframe of the same origin: its theme and language are
    // readable. Anywhere else this returns null and the page uses its own defaults.
    try {
      const parent = window.parent;
      if (parent !== window && parent.document && parent.document.querySelector("home-assistant")) {
        return parent;
      }
    } catch (error) {
      return null;
    }
    return null;
  }

  function applyTheme() {
    const ha = homeAssistant();
    if (!ha) return;
    const style = ha.getComputedStyle(ha.document.documentElement);
    const root = document.documentElement.style;
    for (const name of THEME_VARIABLES) {
      const value = style.getPropertyValue(`--${name}`).trim();
      if (value) root.setProperty(`--${name}`, value);
      else root.removeProperty(`--${name}`);
    }
    const background = style.getPropertyValue("--primary-background-color").trim();
    const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(background)
      || /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(background);
    if (match) {
      const [r, g, b] = match.slice(1, 4).map((part) => parseInt(part.length === 1 ? part + part : part, 16));
      const dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
      root.setProperty("color-scheme", dark ? "dark" : "light");
      document.documentElement.dataset.theme = dark ? "dark" : "light";
      root.setProperty("--pv-row-alt", dark ? "rgba(255,255,255,0.03)" : "rgba(0,0,0,0.03)");
    }
  }

  function followTheme() {
    const ha = homeAssistant();
    if (!ha) return;
    applyTheme();
    let pending = null;
    const observer = new MutationObserver(() => {
      clearTimeout(pending);
      pending = setTimeout(applyTheme, 100);
    });
    observer.observe(ha.document.documentElement, { attributes: true });
    observer.observe(ha.document.head, { childList: true, subtree: true, characterData: true });
  }

  function loadHomeAssistantFonts() {
    // Behind ingress Home Assistant's own fonts are on the same origin.
    if (document.documentElement.dataset.ingress !== "true" || !("fonts" in document)) return;
    for (const [file, weight] of [["Roboto-Regular", "400"], ["Roboto-Medium", "500"]]) {
      const face = new FontFace("Roboto", `url(/static/fonts/roboto/${file}.woff2)`, { weight });
      document.fonts.add(face);
      face.load().catch(() => document.fonts.delete(face));
    }
  }

  function chooseLanguage() {
    const ha = homeAssistant();
    if (ha) {
      try {
        const selected = JSON.parse(ha.localStorage.getItem("selectedLanguage") || "null");
        const base = typeof selected === "string" ? selected.toLowerCase().split("-")[0] : null;
        if (LANGUAGES.includes(base)) return base;
      } catch (error) {
        // Home Assistant keeps no language of its own: the browser's (sent as Accept-Language) applies
      }
    }
    const offered = document.documentElement.lang;
    return LANGUAGES.includes(offered) ? offered : "en";
  }

  async function loadStrings() {
    app.lang = chooseLanguage();
    document.documentElement.lang = app.lang;
    const browser = navigator.language || "";
    app.locale = browser.toLowerCase().split("-")[0] === app.lang ? browser : app.lang;
    const load = async (lang) => (await fetch(`static/i18n/${lang}.json`)).json();
    app.fallback = await load("en");
    app.strings = app.lang === "en" ? app.fallback : await load(app.lang);
    for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  }

  // ------------------------------------------------------------------------------------------ API

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }

  async function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
  }

  function setStatus(status) {
    app.status = status;
    app.offset = status.now - Date.now() / 1000;
    document.getElementById("collector-name").textContent = status.name;
  }

  function devices() {
    return (app.status ? app.status.buses : []).flatMap((bus) => bus.devices);
  }

  // ------------------------------------------------------------------------------------------ overview

  function renderOverview() {
    const status = app.status;
    if (!status) return [h("p", { class: "muted", text: t("common.loading") })];
    const mqtt = status.mqtt;
    const errorKinds = Object.entries(status.errors).filter(([, count]) => count > 0);
    return [
      h("div", { class: "grid summary" },
        card(h("span", {}, t("mqtt.title")),
          h("p", {}, h("span", {
            class: `chip ${mqtt.connected ? "chip-ok" : "chip-error"}`,
            id: "mqtt-connection",
            text: t(mqtt.connected ? "mqtt.connected" : "mqtt.disconnected"),
          })),
          h("dl", { class: "facts" },
            h("dt", { text: t("mqtt.broker") }), h("dd", { class: "mono", text: mqtt.broker }),
            h("dt", { text: t("mqtt.queue") }), h("dd", { id: "queue-length", text: number(mqtt.queue_length) }),
            h("dt", { text: t("mqtt.dropped") }), h("dd", { text: number(mqtt.queue_dropped) }))),
        card(t("collector.title"),
          h("dl", { class: "facts" },
            h("dt", { text: t("collector.version") }), h("dd", { text: status.version }),
            h("dt", { text: t("collector.running") }), h("dd", {}, timeCell(status.started)),
            h("dt", { text: t("collector.errors") }),
            h("dd", {}, errorKinds.length === 0 ? t("errors.none") : errorKinds.map(([kind, count], index) => [
              index ? ", " : "", `${number(count)} ${tOr(`error.${kind}`, kind)}`,
            ]))))),
      ...status.buses.map(renderBus),
    ];
  }

  function renderBus(bus) {
    const requests = Object.entries(bus.requests);
    const utilisation = bus.utilisation;
    const busy = h("div", { class: "stat" },
      h("span", { class: "label", text: t("bus.busy") }),
      h("span", { class: "value", "data-utilisation": utilisation ?? "" },
        utilisation === null ? t("bus.busy.measuring") : percent(utilisation)),
      h("div", { class: `bar${utilisation > 0.5 ? " high" : ""}` }, h("span")));
    busy.querySelector(".bar > span").style.width = `${Math.min(100, (utilisation || 0) * 100)}%`;
    const header = [t("device.column.device"), t("device.column.availability"), t("device.column.last_poll"),
      t("device.column.interval"), t("device.column.requests"), t("device.column.bus_time"),
      t("device.column.share"), t("device.column.problems")];
    const rows = bus.devices.map((device) => h("tr", { "data-device": device.id },
      cell(header[0], h("div", {},
        h("a", { href: `#/device/${encodeURIComponent(device.id)}`, text: device.name }),
        h("span", { class: "sub", text: [device.id, t("device.unit", { unit: device.unit_id }), device.profile]
          .concat(device.model ? [device.model] : []).join(" · ") })), "lead"),
      cell(header[1], h("div", {},
        availabilityChip(device.availability),
        h("span", { class: "sub", title: device.detail || "" },
          t("availability.since", { time: clock(device.since) }),
          reasonText(device) ? ` · ${reasonText(device)}` : "",
          device.discovered ? "" : ` · ${t("device.pending")}`))),
      cell(header[2], timeCell(device.last_poll)),
      cell(header[3], seconds(device.poll_interval), "num"),
      cell(header[4], number(device.requests_per_cycle), "num"),
      cell(header[5], seconds(device.bus_seconds_per_cycle), "num"),
      cell(header[6], percent(device.interval_share), "num"),
      cell(header[7], `${number(device.rejected)} / ${number(device.quarantined)}`, "num")));
    return card(
      h("span", {}, t("bus.title", { name: bus.name }),
        h("span", { class: "muted" }, ` ${tOr(`bus.type.${bus.type}`, bus.type)} · `,
          h("span", { class: "mono", text: bus.endpoint })),
        " ",
        h("span", { class: `chip ${bus.connected ? "chip-ok" : "chip-error"}`,
          text: t(bus.connected ? "bus.connected" : "bus.disconnected") })),
      h("div", { class: "stats" },
        busy,
        h("div", { class: "stat" },
          h("span", { class: "label", text: t("bus.requests") }),
          h("span", { class: "value" }, requests.length === 0 ? "–" : requests.map(([outcome, count], index) => [
            index ? " · " : "", `${number(count)} ${tOr(`outcome.${outcome}`, outcome)}`])))),
      table(header.map((label, index) => ({ label, num: index >= 3 })), rows, { stack: true }));
  }

  // ------------------------------------------------------------------------------------------ device

  function deviceHead(device) {
    return h("div", { class: "pagehead" },
      h("a", { href: "#/", text: `← ${t("common.back")}` }),
      h("h2", { text: device.name }),
      availabilityChip(device.availability),
      h("span", { class: "muted", title: device.detail || "" },
        t("availability.since", { time: clock(device.since) }),
        reasonText(device) ? ` · ${reasonText(device)}` : "",
        device.detail ? ` (${device.detail})` : ""));
  }

  function renderValues(view) {
    const detail = view.detail;
    view.valueCells = new Map();
    if (detail.points.length === 0) return [h("p", { class: "empty", text: t("device.values.empty") })];
    const headers = [t("device.column.point"), t("device.column.value"), t("device.column.updated")];
    const rows = detail.points.map((point) => {
      const value = h("td", { class: "value", "data-label": headers[1], "data-point": point.key },
        formatValue(point, point.value));
      const updated = h("td", { "data-label": headers[2] }, timeCell(point.ts));
      view.valueCells.set(point.key, { point, value, updated });
      if (point.inferred) value.append(h("span", { class: "sub", text: t("device.value.inferred") }));
      return h("tr", {},
        h("td", { "data-label": headers[0], class: "lead" }, point.name, " ", h("span", { class: "key", text: point.key })),
        value, updated);
    });
    return [table(headers.map((label) => ({ label })), rows, { stack: true })];
  }

  function planTable(blocks) {
    const headers = [t("device.column.table"), t("device.column.address"), t("device.column.count"),
      t("device.column.points")];
    return table(headers.map((label, index) => ({ label, num: index === 1 || index === 2 })), blocks.map((block) =>
      h("tr", {},
        cell(headers[0], tOr(`table.${block.function}`, block.function)),
        cell(headers[1], number(block.address), "num mono"),
        cell(headers[2], number(block.count), "num"),
        cell(headers[3], h("span", { class: "tags" }, block.points.map((point) => h("span", {
          class: `tag${point.hidden ? " hidden" : ""}`, title: `${point.address} · ${point.type}`, text: point.key,
        })))))), { stack: true });
  }

  function renderPlan(detail) {
    const parts = [h("p", { class: "muted", text: t("device.plan.summary", { blocks: detail.plan.length }) }),
      planTable(detail.plan)];
    if (detail.info_plan.length) {
      parts.push(h("p", { class: "muted", text: t("device.plan.info") }), planTable(detail.info_plan));
    }
    return parts;
  }

  function renderQuarantined(detail) {
    if (detail.quarantined.length === 0) return [h("p", { class: "empty", text: t("device.quarantined.empty") })];
    const headers = [t("device.column.point"), t("device.column.registers"), t("device.column.retry")];
    return [table(headers.map((label) => ({ label })), detail.quarantined.map((entry) => h("tr", {
      "data-quarantined": entry.key,
    },
    cell(headers[0], [entry.name, " ", h("span", { class: "key", text: entry.key })]),
    cell(headers[1], `${entry.function === "input" ? "FC4" : "FC3"} ${entry.address}`
      + (entry.words > 1 ? `–${entry.address + entry.words - 1}` : ""), "mono nowrap"),
    cell(headers[2], h("span", { title: clock(entry.retry_at), text: relative(entry.retry_at) }), "nowrap"))),
    { stack: true })];
  }

  function describeEvent(event, points) {
    const name = (key) => (points.get(key) || {}).name || key;
    if (event.type === "availability") {
      const reason = event.reason ? ` · ${tOr(`reason.${event.reason}`, event.reason)}` : "";
      const fallback = t("event.availability", { availability: t(`availability.${event.availability}`) });
      return [tOr(`event.availability.${event.availability}`, fallback) + reason,
        event.message || ""];
    }
    if (event.type === "point_rejected") {
      return [t("event.point_rejected", { point: name(event.point) }),
        [tOr(`rejection.${event.error}`, event.error), event.message].filter(Boolean).join(": ")];
    }
    if (event.type === "command_result") {
      if (event.ok) {
        return [t("event.command_ok", {
          point: name(event.point), value: formatValue(points.get(event.point), event.value),
        }), ""];
      }
      return [t("event.command_refused", { point: name(event.point) }),
        [tOr(`command.${event.error}`, event.error), event.message].filter(Boolean).join(": ")];
    }
    return [event.type, event.message || ""];
  }

  function renderEvents(view) {
    const events = view.events;
    if (events.length === 0) return [h("p", { class: "empty", text: t("device.events.empty") })];
    const points = new Map(view.detail.points.map((point) => [point.key, point]));
    return [h("div", { class: "table-wrap" }, h("table", { class: "log" }, h("tbody", {}, events.map((event) => {
      const [what, why] = describeEvent(event, points);
      const bad = event.type === "point_rejected" || (event.type === "command_result" && !event.ok)
        || event.availability === "offline";
      return h("tr", { "data-event": event.type },
        h("td", { class: "time", title: clock(event.ts), text: clock(event.ts) }),
        h("td", { class: bad ? "level-warning" : "" }, what, why ? h("span", { class: "sub", text: why }) : null));
    }))))];
  }

  function logRows(lines, withDevice) {
    return lines.slice().reverse().map((line) => h("tr", { class: `level-row-${line.level}` },
      h("td", { class: "time", title: new Date(line.ts * 1000).toISOString(), text: clock(line.ts) }),
      h("td", { class: `level-${line.level}`, text: line.level }),
      withDevice ? h("td", { class: "mono", text: line.device || "" }) : null,
      h("td", {}, line.message, Object.keys(line.fields).length ? h("span", { class: "sub kv", text:
        Object.entries(line.fields).map(([key, value]) => `${key}=${value}`).join(" ") }) : null)));
  }

  function renderDeviceLog(view) {
    const lines = view.log.slice(-DEVICE_LOG_LINES);
    if (lines.length === 0) return [h("p", { class: "empty", text: t("log.empty") })];
    return [h("div", { class: "table-wrap" }, h("table", { class: "log" }, h("tbody", {}, logRows(lines, false))))];
  }

  function recordTool(deviceId) {
    const features = app.status ? app.status.features : {};
    if (!features.record) return h("p", { class: "notice unavailable", "data-unavailable": "record", text: t("record.unavailable") });
    const message = h("p", { class: "muted" });
    const button = h("button", {
      type: "button", "data-action": "record",
      onclick: async () => {
        button.disabled = true;
        message.className = "muted";
        message.textContent = t("record.running");
        try {
          const response = await post(`api/devices/${encodeURIComponent(deviceId)}/record`);
          if (!response.ok) throw new Error((await response.json()).message || response.statusText);
          const disposition = response.headers.get("Content-Disposition") || "";
          const file = (/filename="([^"]+)"/.exec(disposition) || [])[1] || `${deviceId}.json`;
          const url = URL.createObjectURL(await response.blob());
          const link = h("a", { href: url, download: file });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 1000);
          message.textContent = t("record.done", { file });
        } catch (error) {
          message.className = "notice error";
          message.textContent = t("record.failed", { message: error.message });
        } finally {
          button.disabled = false;
        }
      },
    }, t("record.run"));
    return h("div", {}, h("p", { class: "intro muted", text: t("record.intro") }), button, message);
  }

  async function showDevice(id) {
    const view = { id, detail: null, events: [], log: [], cards: {}, valueCells: new Map() };
    app.device = view;
    const main = document.getElementById("view");
    main.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
    try {
      const [detail, log] = await Promise.all([
        getJSON(`api/devices/${encodeURIComponent(id)}`),
        getJSON(`api/log?device=${encodeURIComponent(id)}`),
      ]);
      if (app.device !== view) return;
      view.detail = detail;
      view.events = detail.events;
      view.log = log.lines;
    } catch (error) {
      main.replaceChildren(h("p", { class: "notice error", text: t("common.failed", { message: error.message }) }));
      return;
    }
    const section = (key, title, content) => {
      const body = h("div", {}, content);
      view.cards[key] = body;
      const element = card(title, body);
      element.dataset.card = key;
      return element;
    };
    view.cards.head = h("div", {}, deviceHead(view.detail.device));
    main.replaceChildren(
      view.cards.head,
      h("div", { class: "columns" },
        h("div", { class: "column" },
          section("values", t("device.values"), renderValues(view)),
          section("plan", t("device.plan"), renderPlan(view.detail))),
        h("div", { class: "column" },
          section("events", t("device.events"), renderEvents(view)),
          section("quarantined", t("device.quarantined"), renderQuarantined(view.detail)),
          Object.assign(card(t("record.title"), recordTool(id)), { id: "record-card" }),
          section("log", t("device.log"), renderDeviceLog(view)))));
    clearInterval(app.refreshTimer);
    app.refreshTimer = setInterval(() => refreshDevice(view), DEVICE_REFRESH_MS);
  }

  async function refreshDevice(view) {
    if (app.device !== view) return;
    try {
      const detail = await getJSON(`api/devices/${encodeURIComponent(view.id)}`);
      if (app.device !== view) return;
      view.detail.plan = detail.plan;
      view.detail.info_plan = detail.info_plan;
      view.detail.quarantined = detail.quarantined;
      view.cards.plan.replaceChildren(...renderPlan(view.detail));
      view.cards.quarantined.replaceChildren(...renderQuarantined(view.detail));
      for (const { point, updated } of view.valueCells.values()) updated.replaceChildren(timeCell(point.ts));
    } catch (error) {
      // the next refresh tries again; the stream shows whether the collector is there
    }
  }

  function deviceState(change) {
    const view = app.device;
    if (!view || !view.detail || change.device !== view.id) return;
    for (const [key, value] of Object.entries(change.v)) {
      const entry = view.valueCells.get(key);
      if (!entry) continue;
      const changed = entry.point.value !== value;
      entry.point.value = value;
      entry.point.ts = change.ts;
      entry.point.inferred = change.inferred.includes(key);
      entry.value.replaceChildren(formatValue(entry.point, value));
      if (entry.point.inferred) entry.value.append(h("span", { class: "sub", text: t("device.value.inferred") }));
      entry.updated.replaceChildren(timeCell(change.ts));
      if (changed) {
        entry.value.classList.remove("changed");
        void entry.value.offsetWidth; // restart the highlight
        entry.value.classList.add("changed");
      }
    }
  }

  function deviceEvent(deviceId, event) {
    const view = app.device;
    if (!view || !view.detail || deviceId !== view.id) return;
    view.events.unshift(event);
    view.events.length = Math.min(view.events.length, 50);
    view.cards.events.replaceChildren(...renderEvents(view));
  }

  // ------------------------------------------------------------------------------------------ tools

  function option([value, label], selected) {
    return h("option", { value, selected: String(value) === String(selected), text: label });
  }

  function select(name, options, value) {
    return h("select", { name }, options.map((entry) => option(entry, value)));
  }

  function renderExplorer() {
    const status = app.status;
    const target = h("select", { name: "target" }, status.buses.map((bus) => h("optgroup", {
      label: t("bus.title", { name: bus.name }),
    }, bus.devices.map((device) => option([`device:${device.id}`,
      `${device.name} (${t("device.unit", { unit: device.unit_id })})`])),
    option([`bus:${bus.name}`, t("explorer.target.other", { bus: bus.name })]))));
    const form = h("form", { class: "fields", id: "explorer" },
      h("label", {}, t("explorer.target"), target),
      h("label", {}, t("explorer.unit"), h("input", { name: "unit_id", type: "number", min: 0, max: 255, value: 1 })),
      h("label", {}, t("explorer.function"), select("function", [["holding", t("table.holding")], ["input", t("table.input")]])),
      h("label", {}, t("explorer.address"), h("input", { name: "address", type: "number", min: 0, max: 65535, value: 0, required: true })),
      h("label", {}, t("explorer.count"), h("input", { name: "count", type: "number", min: 1, max: 125, value: 10, required: true })),
      h("label", {}, t("explorer.type"), select("type", EXPLORER_TYPES.map((type) => [type, type]))),
      h("label", {}, t("explorer.word_order"), select("word_order", [["big", t("explorer.order.big")], ["little", t("explorer.order.little")]])),
      h("label", {}, t("explorer.byte_order"), select("byte_order", [["big", t("explorer.order.big")], ["little", t("explorer.order.little")]])),
      h("button", { type: "submit", "data-action": "read" }, t("explorer.read")));
    const result = h("div", { id: "explorer-result" });
    const unit = form.elements.namedItem("unit_id");
    const syncUnit = () => {
      const [kind, name] = form.elements.namedItem("target").value.split(/:(.*)/s);
      unit.disabled = kind === "device";
      if (kind !== "device") return;
      const device = devices().find((entry) => entry.id === name);
      if (!device) return;
      unit.value = device.unit_id;
      // Start where the device is known to answer: the first request of its read plan (a SunSpec inverter
      // refuses address 0, so the first Read of a newcomer works).
      const block = device.first_block;
      if (block) {
        form.elements.namedItem("function").value = block.function;
        form.elements.namedItem("address").value = block.address;
        form.elements.namedItem("count").value = block.count;
      }
    };
    form.elements.namedItem("target").addEventListener("change", syncUnit);
    syncUnit();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const [kind, name] = data.target.split(/:(.*)/s);
      const body = {
        function: data.function, address: Number(form.elements.namedItem("address").value),
        count: Number(data.count), type: data.type, word_order: data.word_order, byte_order: data.byte_order,
      };
      if (kind === "device") body.device = name;
      else Object.assign(body, { bus: name, unit_id: Number(unit.value) });
      const button = form.querySelector("button");
      button.disabled = true;
      result.replaceChildren(h("p", { class: "muted", text: t("explorer.reading") }));
      try {
        const response = await post("api/explorer", body);
        const answer = await response.json();
        result.replaceChildren(response.ok ? explorerResult(answer)
          : h("p", { class: "notice error", text: t("explorer.refused", { message: answer.message }) }));
      } catch (error) {
        result.replaceChildren(h("p", { class: "notice error", text: t("common.failed", { message: error.message }) }));
      } finally {
        button.disabled = false;
      }
    });
    return card(t("explorer.title"), h("p", { class: "intro muted", text: t("explorer.intro") }), form, result);
  }

  function explorerResult(answer) {
    if (!answer.ok) {
      // A Modbus exception says what it means (code 2: nothing at these addresses), not its number twice.
      const meaning = answer.reason === "exception" ? tOr(`explorer.exception.${answer.code}`, null) : null;
      return h("p", { class: "notice error", "data-outcome": answer.reason }, t(`explorer.failed.${answer.reason}`, {
        message: meaning ?? (answer.message || ""), code: answer.code ?? "",
      }));
    }
    const request = answer.request;
    const values = new Map(answer.values.map((entry) => [entry.address, entry]));
    const points = new Map();
    for (const point of answer.points) points.set(point.address, [...(points.get(point.address) || []), point]);
    const headers = [t("explorer.column.register"), t("explorer.column.hex"), t("explorer.column.dec"),
      t("explorer.column.decoded", { type: request.type }), t("explorer.column.point"), t("explorer.column.collector")];
    const show = (value) => (typeof value === "number" ? number(value) : String(value));
    const rows = answer.registers.map((register, index) => {
      const address = request.address + index;
      const decoded = values.get(address);
      const here = points.get(address) || [];
      return h("tr", { "data-address": address },
        h("td", { class: "num mono", text: String(address) }),
        h("td", { class: "num mono", text: `0x${register.toString(16).toUpperCase().padStart(4, "0")}` }),
        h("td", { class: "num mono", text: String(register) }),
        h("td", { class: "num mono", "data-decoded": decoded ? String(decoded.value) : "" }, decoded ? show(decoded.value) : ""),
        h("td", {}, here.map((point) => h("span", { class: "tag", title: `${point.type} · ${point.words}`, text: point.key }))),
        h("td", { class: "value" }, here.map((point, pointIndex) => [pointIndex ? ", " : "",
          point.value === null ? "–" : `${show(point.value)}${point.unit ? ` ${point.unit}` : ""}`])));
    });
    return table(headers.map((label, index) => ({ label, num: index < 4 })), rows);
  }

  function renderIdentify() {
    const features = app.status.features;
    if (!features.identify) {
      return card(t("identify.title"), h("p", { class: "intro muted", text: t("identify.intro") }),
        h("p", { class: "notice unavailable", "data-unavailable": "identify", text: t("identify.unavailable") }));
    }
    const form = h("form", { class: "fields" },
      h("label", {}, t("identify.bus"), select("bus", app.status.buses.map((bus) => [bus.name, bus.name]))),
      h("label", {}, t("explorer.unit"), h("input", { name: "unit_id", type: "number", min: 0, max: 255, value: 1 })),
      h("button", { type: "submit" }, t("identify.run")));
    const result = h("div", { id: "identify-result" });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const response = await post("api/identify", { bus: data.get("bus"), unit_id: Number(data.get("unit_id")) });
      const answer = await response.json();
      result.replaceChildren(response.ok
        ? h("div", {},
          h("dl", { class: "facts" }, Object.entries(answer.found || {}).map(([key, value]) => [
            h("dt", { text: tOr(`identify.found.${key}`, key) }), h("dd", { text: foundValue(key, value) })])),
          h("p", { class: "muted", text: t("identify.result") }),
          h("pre", { class: "config", text: answer.yaml }))
        : h("p", { class: "notice error", text: answer.message }));
    });
    return card(t("identify.title"), h("p", { class: "intro muted", text: t("identify.intro") }), form, result);
  }

  // What identify found, as the page shows it: `sure` is yes or no (the tool sends "True"/"False").
  function foundValue(key, value) {
    if (key === "sure") return t(value === "True" ? "common.yes" : "common.no");
    return value;
  }

  function renderRecord() {
    const list = devices();
    const chooser = select("device", list.map((device) => [device.id, device.name]));
    const holder = h("div", {}, recordTool(list.length ? list[0].id : ""));
    chooser.addEventListener("change", () => holder.replaceChildren(recordTool(chooser.value)));
    return card(t("record.title"), app.status.features.record ? h("label", {}, t("explorer.target"), chooser) : null, holder);
  }

  function renderTools() {
    if (!app.status) return [h("p", { class: "muted", text: t("common.loading") })];
    return [renderExplorer(), h("div", { class: "grid" }, renderIdentify(), renderRecord())];
  }

  // ------------------------------------------------------------------------------------------ log

  function visibleLog() {
    const { device, level } = app.logFilter;
    return app.logLines.filter((line) => (!device || line.device === device)
      && (LOG_LEVELS[line.level] ?? 0) >= LOG_LEVELS[level]);
  }

  function renderLogTable() {
    const lines = visibleLog();
    if (lines.length === 0) return h("p", { class: "empty", text: t("log.empty") });
    return h("div", { class: "table-wrap" }, h("table", { class: "log", id: "log-table" },
      h("thead", {}, h("tr", {}, [t("log.column.time"), t("log.column.level"), t("log.device"), t("log.column.message")]
        .map((label) => h("th", { text: label })))),
      h("tbody", {}, logRows(lines, true))));
  }

  function renderLog() {
    const holder = h("div", { id: "log-lines" }, renderLogTable());
    const deviceFilter = select("device", [["", t("log.device.all")], ...devices().map((device) => [device.id, device.name])],
      app.logFilter.device);
    const levelFilter = select("level", ["debug", "info", "warning"].map((level) => [level, t(`log.level.${level}`)]),
      app.logFilter.level);
    const update = () => {
      app.logFilter = { device: deviceFilter.value, level: levelFilter.value };
      holder.replaceChildren(renderLogTable());
    };
    deviceFilter.addEventListener("change", update);
    levelFilter.addEventListener("change", update);
    return [card(t("log.title"),
      h("div", { class: "toolbar-inline" },
        h("label", {}, t("log.device"), deviceFilter), h("label", {}, t("log.level"), levelFilter)),
      holder)];
  }

  async function showLog() {
    const main = document.getElementById("view");
    try {
      app.logLines = (await getJSON("api/log")).lines;
    } catch (error) {
      main.replaceChildren(h("p", { class: "notice error", text: t("common.failed", { message: error.message }) }));
      return;
    }
    if (app.route.name === "log") main.replaceChildren(...renderLog());
  }

  function logLine(line) {
    app.logLines.push(line);
    if (app.logLines.length > MAX_LOG_ROWS) app.logLines.splice(0, app.logLines.length - MAX_LOG_ROWS);
    if (app.route.name === "log") {
      const holder = document.getElementById("log-lines");
      if (holder) holder.replaceChildren(renderLogTable());
    }
    const view = app.device;
    if (view && view.detail && line.device === view.id) {
      view.log.push(line);
      view.cards.log.replaceChildren(...renderDeviceLog(view));
    }
  }

  // ------------------------------------------------------------------------------------------ routing

  function parseRoute() {
    const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    const [name, ...rest] = hash.split("/");
    if (name === "device" && rest.length) return { name: "device", id: rest.join("/") };
    if (name === "tools" || name === "log") return { name };
    return { name: "overview" };
  }

  function show() {
    app.route = parseRoute();
    app.device = null;
    clearInterval(app.refreshTimer);
    const tab = app.route.name === "device" ? "overview" : app.route.name;
    for (const link of document.querySelectorAll(".tabs a")) {
      if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const main = document.getElementById("view");
    if (app.route.name === "device") showDevice(app.route.id);
    else if (app.route.name === "tools") main.replaceChildren(...renderTools());
    else if (app.route.name === "log") showLog();
    else main.replaceChildren(...renderOverview());
  }

  function statusChanged() {
    const route = app.route.name;
    if (route === "overview") document.getElementById("view").replaceChildren(...renderOverview());
    else if (route === "tools" && !document.getElementById("explorer")) show();
    else if (route === "device" && app.device && app.device.detail) {
      const device = devices().find((entry) => entry.id === app.device.id);
      if (device) app.device.cards.head.replaceChildren(deviceHead(device));
    }
  }

  // ------------------------------------------------------------------------------------------ live stream

  function connect() {
    const chip = document.getElementById("stream");
    const source = new EventSource("api/events");
    const parse = (message) => JSON.parse(message.data);
    source.addEventListener("open", () => {
      chip.className = "chip chip-ok";
      chip.textContent = t("stream.live");
    });
    source.addEventListener("error", () => {
      chip.className = "chip chip-warn";
      chip.textContent = t("stream.lost");
    });
    source.addEventListener("status", (message) => {
      setStatus(parse(message));
      statusChanged();
    });
    source.addEventListener("state", (message) => deviceState(parse(message)));
    source.addEventListener("event", (message) => {
      const change = parse(message);
      deviceEvent(change.device, change.event);
    });
    source.addEventListener("availability", (message) => {
      const change = parse(message);
      const { type, device, ...event } = change;
      deviceEvent(device, event);
    });
    source.addEventListener("log", (message) => logLine(parse(message).line));
    source.addEventListener("resync", () => show());
  }

  async function start() {
    followTheme();
    loadHomeAssistantFonts();
    await loadStrings();
    try {
      setStatus(await getJSON("api/status"));
    } catch (error) {
      document.getElementById("view").replaceChildren(
        h("p", { class: "notice error", text: t("common.failed", { message: error.message }) }));
    }
    window.addEventListener("hashchange", show);
    show();
    connect();
  }

  start();
})();
