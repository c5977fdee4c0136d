// ChatKit widgets rendered generically: layout (Card, Row, Col, Box, ListView, ...), text
// (Title, Text, Caption, Markdown, Badge, ...), Icon, Image, Divider, Spacer and Button.
// Unknown components render as a box of their children, so new ones degrade gracefully.

import { icon } from "./icons.js";
import { appendMarkdown, safeHref } from "./markdown.js";

const TEXT_TAGS = { Title: "h4", Text: "p", Caption: "small", Label: "span", Badge: "span" };
const LAYOUTS = { Card: "div", Row: "div", Col: "div", Box: "div", Form: "div", ListView: "ul", ListViewItem: "li" };

/**
 * Render a widget tree.
 * @param {object} node a ChatKit widget component (JSON)
 * @param {{onAction: (action: object, el: HTMLElement) => void}} ctx
 */
export function renderWidget(node, ctx) {
  if (!node || typeof node !== "object") return document.createDocumentFragment();
  const type = String(node.type || "Box");
  let el;
  if (type in TEXT_TAGS) {
    el = document.createElement(TEXT_TAGS[type]);
    el.textContent = node.value ?? node.label ?? "";
  } else if (type === "Markdown") {
    el = document.createElement("div");
    appendMarkdown(el, String(node.value ?? ""));
  } else if (type === "Icon") {
    el = icon(node.name) || document.createDocumentFragment();
    if (!(el instanceof Element)) return el;
  } else if (type === "Image") {
    el = document.createElement("img");
    const src = safeHref(node.src);
    if (src && !/^http:/i.test(src)) el.src = src; // https, or a path on this site
    el.alt = node.alt || "";
  } else if (type === "Divider") {
    el = document.createElement("hr");
  } else if (type === "Spacer") {
    el = document.createElement("div");
  } else if (type === "Button") {
    el = button(node, ctx);
  } else {
    el = document.createElement(LAYOUTS[type] || "div");
    if (typeof node.value === "string") el.textContent = node.value;
    for (const child of node.children || []) el.append(renderWidget(child, ctx));
    if (node.onClickAction) clickable(el, node.onClickAction, ctx);
  }
  el.classList.add("w", `w-${type.toLowerCase()}`);
  style(el, node);
  if (node.key) el.dataset.key = node.key;
  return el;
}

function button(node, ctx) {
  const el = document.createElement("button");
  el.type = "button";
  if (node.iconStart) el.append(icon(node.iconStart) || "");
  el.append(node.label || "");
  if (node.iconEnd) el.append(icon(node.iconEnd) || "");
  el.classList.add(`w-style-${node.style || "primary"}`);
  el.disabled = Boolean(node.disabled) || !node.onClickAction;
  el.addEventListener("click", () => {
    if (el.disabled) return;
    el.disabled = true;
    ctx.onAction(node.onClickAction, el);
  });
  return el;
}

function clickable(el, action, ctx) {
  el.tabIndex = 0;
  el.classList.add("w-clickable");
  const fire = () => ctx.onAction(action, el);
  el.addEventListener("click", fire);
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fire();
    }
  });
}

/** The presentational props worth honouring, as classes and inline styles. */
function style(el, node) {
  for (const prop of ["size", "weight", "color", "style", "align", "textAlign"]) {
    const value = node[prop];
    if (typeof value === "string" && /^[a-z-]+$/i.test(value)) el.classList.add(`w-${prop}-${value}`);
  }
  if (typeof node.gap === "number") el.style.gap = `${node.gap * 4}px`;
  if (typeof node.padding === "number") el.style.padding = `${node.padding * 4}px`;
  if (typeof node.maxLines === "number") {
    el.classList.add("w-clamp");
    el.style.setProperty("-webkit-line-clamp", String(node.maxLines));
  }
  if (node.direction === "row") el.classList.add("w-row");
}
