// The dashboard (CONTRACT.md section 8): one page per path under /dashboard/, each built from
// the admin API with the session cookie and its CSRF token. No HTML strings: see common.js.
import { api, decodeJWT, duration, el, errorText, fill, setCSRF, when, whenSignedOut } from "/dashboard/assets/common.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const page = location.pathname.replace(/^\/dashboard\/?/, "").replace(/\/$/, "") || "keys";
let timers = [];
let pageGeneration = 0;

function title(text) {
  document.title = `${text} · Admit`;
  return el("h1", {}, text);
}

function notice(text, kind = "") {
  return el("div", { className: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" }, text);
}

/** A labelled control: `<label for=id>` + the control + its hint and error slot, both named by `aria-describedby`. */
function field(labelText, control, hint) {
  const id = control.id;
  const error = el("div", { className: "error", id: `${id}-error` });
  control.setAttribute("aria-describedby", hint ? `${id}-hint ${id}-error` : `${id}-error`);
  return el("div", { className: "field" }, el("label", { for: id }, labelText), control, hint ? el("div", { className: "muted", id: `${id}-hint` }, hint) : null, error);
}

function showFieldError(control, message) {
  const slot = document.getElementById(`${control.id}-error`);
  if (slot) slot.textContent = message;
  control.setAttribute("aria-invalid", message ? "true" : "false");
}

/** Every key, page by page (100 a page, at most 100 pages). */
async function allKeys() {
  const keys = [];
  for (let page = 1; page <= 100; page += 1) {
    const answer = await api("GET", `/admin/v1/api-keys?perPage=100&page=${page}`);
    if (answer.status !== 200) break;
    keys.push(...answer.body.data);
    if (page >= answer.body.pageInfo.lastPage) break;
  }
  return keys;
}

async function keyOptions(select, { activeOnly = true } = {}) {
  const keys = await allKeys();
  const usable = keys.filter((key) => !activeOnly || !key.deactivated);
  fill(select, usable.map((key) => el("option", { value: key.apiKey }, `${key.name} (${key.apiKey.slice(0, 8)}…)`)));
  const wanted = new URLSearchParams(location.search).get("apiKey");
  if (wanted && usable.some((key) => key.apiKey === wanted)) select.value = wanted;
  return usable;
}

// MARK: Sign-in

function signIn() {
  nav.hidden = true;
  // autocomplete off: the admin credential is not one for the browser to keep.
  const credential = el("input", { id: "credential", type: "password", autocomplete: "off", required: true });
  const message = el("div", { id: "signin-message", role: "alert", className: "error" });
  const form = el(
    "form",
    { className: "card signin", "aria-labelledby": "signin-title" },
    el("h1", { id: "signin-title" }, "Sign in to Admit"),
    el("p", { className: "muted" }, "Use the admin credential (dev mode keeps it in admit-token under the data directory)."),
    field("Admin credential", credential),
    el("button", { type: "submit" }, "Sign In"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const answer = await api("POST", "/dashboard/api/sign-in", { credential: credential.value });
    credential.value = "";
    if (answer.status === 200) {
      location.reload();
      return;
    }
    message.textContent = answer.status === 429 ? "Too many failed sign-ins: wait a minute and try again." : errorText(answer);
    credential.focus();
  });
  document.title = "Sign in · Admit";
  fill(main, form);
  credential.focus();
}

// MARK: API Keys

async function keysPage() {
  const list = el("div", { className: "table-wrap" });
  const created = el("div", { "aria-live": "polite" });
  const name = el("input", { id: "key-name", maxlength: 200, required: true });
  const form = el("form", { className: "card" }, el("h2", {}, "Create a key"), el("div", { className: "row" }, field("Name", name), el("div", { className: "field" }, el("button", { type: "submit" }, "Create"))), created);

  function secretPanel(heading, apiKey, secret, extra) {
    const area = el("textarea", { id: `secret-${apiKey}`, readonly: true, rows: 2 }, secret);
    const status = el("span", { className: "muted", role: "status" });
    const copy = el("button", { type: "button", className: "secondary" }, "Copy");
    copy.addEventListener("click", async () => {
      area.select();
      try {
        await navigator.clipboard.writeText(secret);
        status.textContent = "Copied.";
      } catch {
        status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    });
    return el("div", { className: "notice good" }, el("strong", {}, heading), el("p", {}, "The secret is shown once: store it now. API key ", el("code", {}, apiKey), "."), extra, field("Secret", area), el("div", { className: "actions" }, copy, status));
  }

  async function load() {
    const keys = await allKeys();
    if (keys.length === 0) return fill(list, el("p", { className: "muted", style: null }, "No API keys yet: create one below."));
    const rows = keys.map((key) => {
      const grace = el("select", { id: `grace-${key.apiKey}`, "aria-label": `Grace period for ${key.name}` }, [
        ["3600", "1 hour"], ["0", "none"], ["86400", "1 day"], ["604800", "7 days"],
      ].map(([value, text]) => el("option", { value }, text)));
      const rotate = el("button", { type: "button", className: "secondary", disabled: key.deactivated, "aria-label": `Rotate ${key.name}` }, "Rotate");
      const deactivate = el("button", { type: "button", className: "danger", disabled: key.deactivated, "aria-label": `Deactivate ${key.name}` }, "Deactivate");
      rotate.addEventListener("click", async () => {
        const answer = await api("POST", `/admin/v1/api-keys/${encodeURIComponent(key.apiKey)}/rotate`, { graceSeconds: Number(grace.value) });
        if (answer.status !== 200) return fill(created, notice(errorText(answer), "bad"));
        const until = answer.body.previousSecretValidUntil;
        fill(created, secretPanel(`Rotated ${key.name}.`, key.apiKey, answer.body.secret, until ? el("p", {}, `The previous secret works until ${when(until)}.`) : el("p", {}, "The previous secret no longer works.")));
        await load();
      });
      deactivate.addEventListener("click", async () => {
        if (!window.confirm(`Deactivate ${key.name}? Its tokens stop working and it cannot be turned back on.`)) return;
        const answer = await api("POST", `/admin/v1/api-keys/${encodeURIComponent(key.apiKey)}/deactivate`, {});
        if (answer.status !== 200) return fill(created, notice(errorText(answer), "bad"));
        fill(created, notice(`${key.name} is deactivated.`));
        await load();
      });
      return el("tr", {},
        el("td", {}, key.name),
        el("td", {}, el("code", {}, key.apiKey)),
        el("td", {}, when(key.createdAt)),
        el("td", {}, key.deactivated ? el("span", { className: "badge off" }, "deactivated") : el("span", { className: "badge live" }, "active")),
        el("td", {}, key.deactivated ? null : el("div", { className: "actions" }, grace, rotate, deactivate)),
      );
    });
    fill(list, el("table", {}, el("thead", {}, el("tr", {}, ["Name", "Key", "Created", "State", "Actions"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldError(name, "");
    const answer = await api("POST", "/admin/v1/api-keys", { name: name.value.trim() });
    if (answer.status !== 200) return showFieldError(name, errorText(answer));
    name.value = "";
    fill(created, secretPanel(`Created ${answer.body.name}.`, answer.body.apiKey, answer.body.secret));
    await load();
  });
  fill(main, title("API Keys"), list, form);
  await load();
}

// MARK: Generate Token

async function tokenPage() {
  const key = el("select", { id: "token-key" });
  const boxes = Object.fromEntries(["allow_join", "ask_join", "allow_mod"].map((name) => [name, el("input", { type: "checkbox", id: `perm-${name}`, value: name, checked: name === "allow_join" })]));
  const roles = Object.fromEntries(["crawler", "rtc"].map((name) => [name, el("input", { type: "checkbox", id: `role-${name}`, value: name })]));
  const expiresIn = el("input", { id: "expires-in", value: "2h", required: true });
  const roomId = el("input", { id: "token-room" });
  const participantId = el("input", { id: "token-participant" });
  const permissionsError = el("div", { className: "error", id: "permissions-error" });
  const result = el("div", { "aria-live": "polite" });
  const generate = el("button", { type: "submit" }, "Generate");

  // ask_join cannot go with allow_join or allow_mod (CONTRACT.md section 1): the other side is disabled.
  function permissionsChanged() {
    const ask = boxes.ask_join.checked;
    const other = boxes.allow_join.checked || boxes.allow_mod.checked;
    boxes.allow_join.disabled = ask;
    boxes.allow_mod.disabled = ask;
    boxes.ask_join.disabled = other;
    const none = !Object.values(boxes).some((box) => box.checked);
    permissionsError.textContent = none ? "Choose at least one permission." : "";
    generate.disabled = none;
  }
  Object.values(boxes).forEach((box) => box.addEventListener("change", permissionsChanged));

  const permissions = el("fieldset", { "aria-describedby": "permissions-error" }, el("legend", {}, "Permissions"),
    Object.entries(boxes).map(([name, box]) => el("label", { className: "check", for: box.id }, box, name)),
    el("p", { className: "muted" }, "ask_join waits in the lobby; it cannot be combined with allow_join or allow_mod."), permissionsError);
  const roleSet = el("fieldset", {}, el("legend", {}, "Roles"), Object.entries(roles).map(([name, box]) => el("label", { className: "check", for: box.id }, box, name)),
    el("p", { className: "muted" }, "Optional: crawler for the server API only, rtc for meetings only."));
  const form = el("form", { className: "card" },
    field("API Key", key),
    permissions,
    el("div", { className: "row" }, field("Expires In", expiresIn, "Seconds, or a number with s, m, h or d (120m, 2h, 7d)."), field("Room ID", roomId, "Optional."), field("Participant ID", participantId, "Optional.")),
    roleSet,
    generate);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const timer of timers) clearInterval(timer);
    timers = [];
    showFieldError(expiresIn, "");
    const chosen = Object.entries(boxes).filter(([, box]) => box.checked).map(([name]) => name);
    if (chosen.includes("ask_join") && chosen.length > 1) return (permissionsError.textContent = "ask_join cannot be combined with allow_join or allow_mod.");
    const body = { permissions: chosen, expiresIn: /^\d+$/.test(expiresIn.value.trim()) ? Number(expiresIn.value.trim()) : expiresIn.value.trim() };
    if (roomId.value.trim()) body.roomId = roomId.value.trim();
    if (participantId.value.trim()) body.participantId = participantId.value.trim();
    const chosenRoles = Object.entries(roles).filter(([, box]) => box.checked).map(([name]) => name);
    if (chosenRoles.length) body.roles = chosenRoles;
    const answer = await api("POST", `/admin/v1/api-keys/${encodeURIComponent(key.value)}/tokens`, body);
    if (answer.status !== 200) {
      const text = errorText(answer);
      if (text.includes("expiresIn")) showFieldError(expiresIn, text);
      else fill(result, notice(text, "bad"));
      return;
    }
    const token = answer.body.token;
    const decoded = decodeJWT(token);
    const countdown = el("strong", { id: "expires-countdown" });
    const tick = () => (countdown.textContent = duration(decoded.payload.exp - Date.now() / 1000));
    tick();
    timers.push(setInterval(tick, 1000));
    fill(result, el("div", { className: "card" },
      field("Token", el("textarea", { id: "token-output", readonly: true, rows: 4 }, token)),
      el("p", {}, "Expires in ", countdown, ` (at ${new Date(decoded.payload.exp * 1000).toLocaleString()}).`),
      el("div", { className: "grid2" },
        el("div", {}, el("h2", {}, "Header"), el("pre", { id: "token-header" }, JSON.stringify(decoded.header, null, 2))),
        el("div", {}, el("h2", {}, "Claims"), el("pre", { id: "token-claims" }, JSON.stringify(decoded.payload, null, 2))))));
  });

  fill(main, title("Generate Token"), el("p", { className: "muted" }, "A temporary token for testing, signed with the key's secret on the server (the secret never reaches this page)."), form, result);
  const keys = await keyOptions(key);
  if (keys.length === 0) fill(result, notice("Create an API key first (API Keys).", "bad"));
  permissionsChanged();
}

// MARK: API Settings

const SECTION_FIELDS = {
  quality: [["low", "Low"], ["med", "Medium"], ["high", "High"]],
  theme: [["DEFAULT", "System Default"], ["LIGHT", "Light"], ["DARK", "Dark"]],
  orientation: [["landscape", "Landscape"], ["portrait", "Portrait"]],
  mode: [["video-and-audio", "Video & Audio"], ["audio", "Audio Only"]],
  layoutType: [["GRID", "Grid"], ["SPOTLIGHT", "Spotlight"], ["SIDEBAR", "Sidebar"]],
  priority: [["SPEAKER", "Active Speaker"], ["PIN", "Pinned Participant"]],
};

async function settingsPage() {
  const key = el("select", { id: "settings-key" });
  const formSlot = el("div");
  const status = el("div", { id: "settings-status", "aria-live": "polite" });
  const controls = new Map(); // dotted path -> control (for errors)

  function select(path, id, options, defaultText) {
    const control = el("select", { id }, el("option", { value: "" }, `Default (${defaultText})`), options.map(([value, text]) => el("option", { value }, text)));
    controls.set(path, control);
    return control;
  }
  function checkbox(path, id, labelText) {
    const box = el("input", { type: "checkbox", id });
    controls.set(path, box);
    const error = el("div", { className: "error", id: `${id}-error` });
    box.setAttribute("aria-describedby", `${id}-error`);
    return el("div", {}, el("label", { className: "check", for: id }, box, labelText), error);
  }

  function section(name, legend, extra) {
    const modes = el("fieldset", { id: `${name}-modes`, "aria-describedby": `${name}-modes-error` }, el("legend", {}, "Enabled Modes"),
      el("label", { className: "check", for: `${name}-modes-va` }, el("input", { type: "checkbox", id: `${name}-modes-va`, value: "video-and-audio" }), "Video & Audio"),
      el("label", { className: "check", for: `${name}-modes-a` }, el("input", { type: "checkbox", id: `${name}-modes-a`, value: "audio" }), "Audio Only"),
      el("div", { className: "error", id: `${name}-modes-error` }));
    controls.set(`${name}.modes`, modes);
    const grid = el("input", { type: "number", id: `${name}-grid`, min: 1, max: 25, placeholder: "Default (4)" });
    controls.set(`${name}.layout.gridSize`, grid);
    const label = name === "hls" ? "HLS" : "Recording";
    return el("fieldset", { id: `section-${name}` }, el("legend", {}, legend),
      checkbox(`${name}.enabled`, `${name}-enabled`, "Enabled"),
      modes,
      checkbox(`${name}.autoStart`, `${name}-auto`, name === "hls" ? "Auto Start HLS" : "Start Recording Automatically"),
      extra,
      el("div", { className: "grid2" },
        field("Layout Style", select(`${name}.layout.type`, `${name}-layout`, SECTION_FIELDS.layoutType, "Grid")),
        field("Maximum Tiles In Grid", grid),
        field("Who to Prioritize", select(`${name}.layout.priority`, `${name}-priority`, SECTION_FIELDS.priority, "Active Speaker")),
        field("Theme", select(`${name}.theme`, `${name}-theme`, SECTION_FIELDS.theme, "System Default")),
        field(name === "hls" ? "HLS Orientation" : "Video Orientation", select(`${name}.orientation`, `${name}-orientation`, SECTION_FIELDS.orientation, "Landscape")),
        field(`${label} Quality`, select(`${name}.quality`, `${name}-quality`, SECTION_FIELDS.quality, "Medium")),
        field(name === "hls" ? "HLS Streaming Mode" : "Recording Mode", select(`${name}.mode`, `${name}-mode`, SECTION_FIELDS.mode, "Video & Audio"))));
  }

  function build(settings) {
    controls.clear();
    const bitrate = el("fieldset", { id: "max-send-bitrate", "aria-describedby": "max-send-bitrate-error" }, el("legend", {}, "Max Send Bitrate"),
      [["auto", "Auto"], ["sd", "SD"], ["hd", "HD"], ["fullhd", "Full HD"]].map(([value, text]) =>
        el("label", { className: "check", for: `bitrate-${value}` }, el("input", { type: "radio", name: "maxSendBitrate", id: `bitrate-${value}`, value }), text)),
      el("p", { className: "muted", id: "max-send-bitrate-hint" }, "Auto removes the upload limit; SD 800 kbps, HD 1500, Full HD 3000. The dashboard's value overrides the SDK's; with none chosen, the SDK's join parameter applies."),
      el("button", { type: "button", className: "secondary", id: "bitrate-clear", onclick: () => document.querySelectorAll('input[name="maxSendBitrate"]').forEach((radio) => (radio.checked = false)) }, "Clear (let the SDK decide)"),
      el("div", { className: "error", id: "max-send-bitrate-error" }));
    for (const radio of bitrate.querySelectorAll("input")) radio.setAttribute("aria-describedby", "max-send-bitrate-hint max-send-bitrate-error");
    controls.set("maxSendBitrate", bitrate);
    const whitelist = el("textarea", { id: "whitelist", rows: 4, placeholder: "https://app.example.com" });
    controls.set("transcription.whitelistDomains", whitelist);
    const form = el("form", { className: "card", id: "settings-form", novalidate: true },
      bitrate,
      section("recording", "Recording"),
      section("hls", "HLS", checkbox("hls.recordStream", "hls-record", "Record HLS Stream")),
      el("fieldset", { id: "section-services" }, el("legend", {}, "Services"),
        checkbox("services.rtmpOut", "svc-rtmp", "RTMP Output"),
        checkbox("services.sip", "svc-sip", "SIP Integration"),
        checkbox("services.realtimeTranslation", "svc-translation", "Realtime Translation")),
      el("fieldset", { id: "section-transcription" }, el("legend", {}, "Transcription"),
        checkbox("transcription.enabled", "transcription-enabled", "Enabled"),
        field("Whitelist Domains", whitelist, "One origin per line, such as https://app.example.com. None: any origin may use the key.")),
      el("button", { type: "submit" }, "Save Changes"));
    fill(formSlot, form);
    load(settings);
    form.addEventListener("submit", save);
  }

  let loaded = {};
  const getIn = (object, path) => path.split(".").reduce((value, part) => (value == null ? undefined : value[part]), object);

  function load(settings) {
    loaded = settings;
    const get = (path) => getIn(settings, path);
    const radio = document.querySelector(`input[name="maxSendBitrate"][value="${settings.maxSendBitrate || ""}"]`);
    if (radio) radio.checked = true;
    for (const name of ["recording", "hls"]) {
      document.getElementById(`${name}-enabled`).checked = get(`${name}.enabled`) !== false;
      const modes = get(`${name}.modes`) || ["video-and-audio", "audio"];
      document.getElementById(`${name}-modes-va`).checked = modes.includes("video-and-audio");
      document.getElementById(`${name}-modes-a`).checked = modes.includes("audio");
      document.getElementById(`${name}-auto`).checked = get(`${name}.autoStart`) === true;
      for (const [path, id] of [["layout.type", "layout"], ["layout.priority", "priority"], ["theme", "theme"], ["orientation", "orientation"], ["quality", "quality"], ["mode", "mode"]]) {
        document.getElementById(`${name}-${id}`).value = get(`${name}.${path}`) || "";
      }
      const grid = get(`${name}.layout.gridSize`);
      document.getElementById(`${name}-grid`).value = grid == null ? "" : String(grid);
    }
    document.getElementById("hls-record").checked = get("hls.recordStream") === true;
    document.getElementById("svc-rtmp").checked = get("services.rtmpOut") !== false;
    document.getElementById("svc-sip").checked = get("services.sip") !== false;
    document.getElementById("svc-translation").checked = get("services.realtimeTranslation") !== false;
    document.getElementById("transcription-enabled").checked = get("transcription.enabled") !== false;
    document.getElementById("whitelist").value = (get("transcription.whitelistDomains") || []).join("\n");
  }

  /**
   * The whole document from the form. Unset choices stay unset, so the next layer applies: a
   * switch or list still at its default is sent only if the key had it set before.
   */
  function collect() {
    const keep = (path, value, fallback) => getIn(loaded, path) !== undefined || JSON.stringify(value) !== JSON.stringify(fallback);
    const prune = (object, prefix) => {
      for (const [name, value] of Object.entries(object)) {
        const path = `${prefix}.${name}`;
        const fallback = { enabled: true, modes: ["video-and-audio", "audio"], autoStart: false, recordStream: false, rtmpOut: true, sip: true, realtimeTranslation: true, whitelistDomains: [] }[name];
        if (fallback !== undefined && !keep(path, value, fallback)) delete object[name];
      }
      return object;
    };
    const settings = {};
    const bitrate = document.querySelector('input[name="maxSendBitrate"]:checked');
    if (bitrate) settings.maxSendBitrate = bitrate.value;
    for (const name of ["recording", "hls"]) {
      const sectionValue = {
        enabled: document.getElementById(`${name}-enabled`).checked,
        modes: ["va", "a"].filter((id) => document.getElementById(`${name}-modes-${id}`).checked).map((id) => (id === "va" ? "video-and-audio" : "audio")),
        autoStart: document.getElementById(`${name}-auto`).checked,
      };
      const layout = {};
      const layoutType = document.getElementById(`${name}-layout`).value;
      const priority = document.getElementById(`${name}-priority`).value;
      const grid = document.getElementById(`${name}-grid`).value.trim();
      if (layoutType) layout.type = layoutType;
      if (priority) layout.priority = priority;
      if (grid) layout.gridSize = /^-?\d+$/.test(grid) ? Number(grid) : grid;
      if (Object.keys(layout).length) sectionValue.layout = layout;
      for (const part of ["theme", "orientation", "quality", "mode"]) {
        const value = document.getElementById(`${name}-${part}`).value;
        if (value) sectionValue[part] = value;
      }
      if (name === "hls") sectionValue.recordStream = document.getElementById("hls-record").checked;
      settings[name] = prune(sectionValue, name);
    }
    settings.services = prune({
      rtmpOut: document.getElementById("svc-rtmp").checked,
      sip: document.getElementById("svc-sip").checked,
      realtimeTranslation: document.getElementById("svc-translation").checked,
    }, "services");
    settings.transcription = prune({
      enabled: document.getElementById("transcription-enabled").checked,
      whitelistDomains: document.getElementById("whitelist").value.split("\n").map((line) => line.trim()).filter(Boolean),
    }, "transcription");
    for (const [name, value] of Object.entries(settings)) if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0) delete settings[name];
    return settings;
  }

  function clearErrors() {
    for (const control of controls.values()) {
      const slot = document.getElementById(`${control.id}-error`);
      if (slot) slot.textContent = "";
      control.removeAttribute("aria-invalid");
    }
  }

  /** Each error next to its field: the server names fields by dotted path, in backticks. */
  function showErrors(errors) {
    let first = null;
    for (const problem of errors) {
      const message = problem.message;
      const path = (problem.field || "").replace(/\[\d+\]$/, "");
      let control = controls.get(path);
      for (let cut = path; !control && cut.includes("."); ) {
        cut = cut.slice(0, cut.lastIndexOf("."));
        control = controls.get(cut);
      }
      if (!control) {
        status.append(notice(message, "bad"));
        continue;
      }
      showFieldError(control, message);
      first = first || control;
    }
    if (first) (first.tagName === "FIELDSET" ? first.querySelector("input") || first : first).focus();
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    fill(status);
    const wanted = collect();
    // Checked first (answered 200 with the problems), then saved whole or not at all.
    const checked = await api("POST", `/admin/v1/api-keys/${encodeURIComponent(key.value)}/settings/problems`, wanted);
    if (checked.status === 200 && checked.body.errors.length) {
      fill(status, notice("Nothing was saved: correct the fields marked below.", "bad"));
      showErrors(checked.body.errors);
      return;
    }
    const answer = await api("PUT", `/admin/v1/api-keys/${encodeURIComponent(key.value)}/settings`, wanted);
    if (answer.status === 200) {
      fill(status, notice("Saved. New joins and new jobs use these settings.", "good"));
      load(answer.body);
      return;
    }
    const body = answer.body || {};
    const fallback = /`([^`]+)`/.exec(errorText(answer));
    fill(status, notice("Nothing was saved: correct the fields marked below.", "bad"));
    showErrors(body.errors && body.errors.length ? body.errors : [{ field: fallback ? fallback[1] : "", message: errorText(answer) }]);
  }

  async function choose() {
    clearErrors();
    fill(status);
    const answer = await api("GET", `/admin/v1/api-keys/${encodeURIComponent(key.value)}/settings`);
    if (answer.status !== 200) return fill(formSlot, notice(errorText(answer), "bad"));
    build(answer.body || {});
  }

  key.addEventListener("change", choose);
  fill(main, title("API Settings"), el("div", { className: "card" }, field("API Key", key)), status, formSlot);
  const keys = await keyOptions(key);
  if (keys.length === 0) return fill(formSlot, notice("Create an API key first (API Keys).", "bad"));
  await choose();
}

// MARK: Rooms

async function roomsPage() {
  const list = el("div", { id: "rooms" });
  const status = el("div", { "aria-live": "polite" });
  const cards = new Map(); // roomId -> {card, liveSlot, last}

  function liveView(room) {
    const live = room.live;
    if (!live) return el("p", { className: "muted" }, "No meeting now.");
    const people = live.participants.length
      ? el("div", { className: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Name", "Participant ID", "Mic", "Webcam"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, live.participants.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, el("code", {}, p.participantId)), el("td", {}, p.mic ? "on" : "off"), el("td", {}, p.webcam ? "on" : "off"))))))
      : el("p", { className: "muted" }, "Nobody in the meeting yet.");
    const lobby = live.lobby.length
      ? el("ul", { className: "lobby" }, live.lobby.map((guest) => {
          const answer = async (allow) => {
            const reply = await api("POST", `/admin/v1/rooms/${encodeURIComponent(room.roomId)}/lobby`, { participantId: guest.participantId, allow });
            fill(status, reply.status === 204 ? notice(`${guest.name} was ${allow ? "admitted" : "denied"}.`, "good") : notice(errorText(reply), "bad"));
            await refresh();
          };
          return el("li", { className: "row", "data-participant": guest.participantId },
            el("span", {}, el("strong", {}, guest.name), " ", el("code", {}, guest.participantId)),
            el("button", { type: "button", onclick: () => answer(true), "aria-label": `Admit ${guest.name}` }, "Admit"),
            el("button", { type: "button", className: "danger", onclick: () => answer(false), "aria-label": `Deny ${guest.name}` }, "Deny"));
        }))
      : el("p", { className: "muted" }, "Nobody waiting.");
    return el("div", {},
      el("p", {}, el("span", { className: "badge live" }, "live"), " session ", el("code", {}, live.sessionId || "(starting)"), live.start ? ` since ${when(live.start)}` : ""),
      el("h3", {}, "Participants"), people, el("h3", {}, "Lobby"), lobby);
  }

  function configView(room) {
    const slot = el("div");
    const details = el("details", {}, el("summary", {}, "Effective configuration"), slot);
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      const answer = await api("GET", `/admin/v1/rooms/${encodeURIComponent(room.roomId)}/effective-config`);
      if (answer.status !== 200) return fill(slot, notice(errorText(answer), "bad"));
      const rows = Object.entries(answer.body).map(([name, entry]) =>
        el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, JSON.stringify(entry.value)), el("td", {}, el("span", { className: "badge" }, entry.source))));
      fill(slot, el("div", { className: "table-wrap" }, el("table", { className: "config" }, el("thead", {}, el("tr", {}, ["Setting", "Value", "Source"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows))));
    });
    return details;
  }

  async function refresh() {
    const answer = await api("GET", "/admin/v1/rooms");
    if (answer.status === 401) return; // common.js shows the sign-in
    if (answer.status !== 200) return fill(status, notice(errorText(answer), "bad"));
    const rooms = answer.body.rooms;
    if (rooms.length === 0) {
      cards.clear();
      return fill(list, el("p", { className: "muted" }, "No rooms yet: create one with POST /v2/rooms, or join one from /meet/ROOM_ID."));
    }
    const seen = new Set();
    const ordered = [];
    for (const room of rooms) {
      seen.add(room.roomId);
      let entry = cards.get(room.roomId);
      if (!entry) {
        const liveSlot = el("div", { className: "live" });
        const card = el("section", { className: "card room", "data-room": room.roomId, "aria-label": `Room ${room.roomId}` },
          el("h2", {}, el("code", {}, room.roomId), room.customRoomId ? ` (${room.customRoomId})` : "", " ", el("span", { className: "muted" }, `key ${room.keyName}`),
            room.disabled ? el("span", { className: "badge off" }, " deactivated") : null, " ", el("a", { href: `/meet/${encodeURIComponent(room.roomId)}` }, "Open meeting page")),
          liveSlot, configView(room));
        entry = { card, liveSlot, last: "" };
        cards.set(room.roomId, entry);
      }
      const text = JSON.stringify(room.live);
      if (text !== entry.last) {
        entry.last = text;
        fill(entry.liveSlot, liveView(room));
      }
      ordered.push(entry.card);
    }
    for (const roomId of [...cards.keys()]) if (!seen.has(roomId)) cards.delete(roomId);
    // Keep the cards (and any open details) in place; only reorder when the order changed.
    const current = [...list.children];
    if (current.length !== ordered.length || current.some((node, index) => node !== ordered[index])) fill(list, ordered);
  }

  fill(main, title("Rooms"), el("p", { className: "muted" }, "Every key's rooms, live meetings first. The lobby updates every second and a half."), status, list);
  // One request at a time: the next starts 1.5 s after the last answer, so slow answers never pile up.
  const generation = ++pageGeneration;
  const poll = async () => {
    if (generation !== pageGeneration) return;
    await refresh();
    if (generation === pageGeneration) timers.push(setTimeout(poll, 1500));
  };
  await poll();
}

// MARK: Jobs

async function jobsPage() {
  const key = el("select", { id: "jobs-key" });
  const slot = el("div");
  const names = { recording: "Recordings", hls: "HLS", livestream: "Livestreams", transcription: "Transcriptions" };

  async function load() {
    const answer = await api("GET", `/admin/v1/api-keys/${encodeURIComponent(key.value)}/jobs`);
    if (answer.status !== 200) return fill(slot, notice(errorText(answer), "bad"));
    fill(slot, Object.entries(names).map(([kind, heading]) => {
      const jobs = answer.body[kind] || [];
      return el("section", { "aria-label": heading }, el("h2", {}, heading),
        jobs.length === 0 ? el("p", { className: "muted" }, "None.") :
        el("div", { className: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["ID", "Room", "State", "Started", "Ended"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, jobs.map((job) => el("tr", {}, el("td", {}, el("code", {}, job.id)), el("td", {}, el("code", {}, job.roomId)), el("td", {}, el("span", { className: "badge" }, job.status)), el("td", {}, when(job.start || job.createdAt)), el("td", {}, when(job.end))))))));
    }));
  }
  key.addEventListener("change", load);
  fill(main, title("Jobs"), el("div", { className: "card" }, field("API Key", key)), slot);
  const keys = await keyOptions(key, { activeOnly: false });
  if (keys.length === 0) return fill(slot, notice("No API keys yet.", "bad"));
  await load();
  timers.push(setInterval(load, 5000));
}

// MARK: Start

async function start() {
  for (const timer of timers) clearInterval(timer);
  timers = [];
  pageGeneration += 1;
  const session = await api("GET", "/dashboard/api/session");
  if (!session.body || !session.body.signedIn) return signIn();
  setCSRF(session.body.csrf);
  nav.hidden = false;
  for (const link of nav.querySelectorAll("a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
  }
  const pages = { keys: keysPage, token: tokenPage, settings: settingsPage, rooms: roomsPage, jobs: jobsPage };
  await (pages[page] || keysPage)();
}

whenSignedOut(() => start());

document.getElementById("sign-out").addEventListener("click", async (event) => {
  event.preventDefault();
  await api("POST", "/dashboard/api/sign-out", {});
  setCSRF(null);
  location.assign("/dashboard/");
});

start();
