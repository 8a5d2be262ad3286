// Shared by the dashboard and the meeting page: building DOM without HTML strings (nothing a
// server or a participant sends is ever parsed as markup), and JSON requests.

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== undefined && child !== null && child !== false));
  return node;
}

let csrf = null;
let onUnauthorized = null;

/** Called when a request finds the session gone (401): the dashboard shows the sign-in. */
export function whenSignedOut(callback) {
  onUnauthorized = callback;
}

/** The CSRF token sent with every change (from the session, or the sign-in). */
export function setCSRF(token) {
  csrf = token;
}

/**
 * A JSON request to this server: `{status, body}`; `body` is the parsed JSON, or null.
 * Errors answer in the contract's shape, `{statusCode, error, ...}`.
 */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && onUnauthorized && !path.startsWith("/dashboard/api/")) onUnauthorized();
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: response.status, body: parsed };
}

/** The readable part of an error answer. */
export function errorText(answer) {
  const body = answer.body || {};
  return body.error || body.message || `The server answered ${answer.status}.`;
}

/** A JWT's header and payload, decoded (base64url JSON); null when it is not one. */
export function decodeJWT(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const decode = (part) => {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  };
  try {
    return { header: decode(parts[0]), payload: decode(parts[1]) };
  } catch {
    return null;
  }
}

/** "1 h 2 min 3 s" for a number of seconds; "expired" at or below zero. */
export function duration(seconds) {
  if (seconds <= 0) return "expired";
  const parts = [];
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = Math.floor(seconds % 60);
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes) parts.push(`${minutes} min`);
  if (rest || parts.length === 0) parts.push(`${rest} s`);
  return parts.join(" ");
}

/** A date as the reader's locale writes it. */
export function when(text) {
  if (!text) return "";
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? String(text) : date.toLocaleString();
}
