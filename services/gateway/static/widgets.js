// ChatKit widgets (`chatkit.widgets`) rendered as DOM: layout (Card, Row, Col, Box, Form,
// ListView, Transition), text (Title, Text, Caption, Markdown, Badge, Label), Icon, Image,
// Divider, Spacer, Button, the form controls (`widget_controls.js`) and Chart
// (`widget_chart.js`). Text goes in as text, never as markup. A component this client does
// not know renders as a box of its children, with a note in the console, never a blank.
// `applyWidgetUpdate` applies the server's streamed widget updates in place.

import { icon } from "./icons.js";
import { appendMarkdown, safeHref } from "./markdown.js";
import { chart } from "./widget_chart.js";
import * as controls from "./widget_controls.js";

const TEXT_TAGS = { Title: "h4", Text: "p", Caption: "small", Badge: "span" };
const BOXES = { Basic: "div", Row: "div", Col: "div", Box: "div", ListViewItem: "li", Transition: "div" };
const CONTROLS = {
  Input: controls.input,
  Textarea: controls.textarea,
  Select: controls.select,
  Checkbox: controls.checkbox,
  RadioGroup: controls.radioGroup,
  DatePicker: controls.datePicker,
  Label: controls.label,
};
const MAX_DEPTH = 40; // a widget is a small tree; deeper is cut, not recursed into

/**
 * Render a widget tree.
 * @param {object} node a ChatKit widget component (JSON)
 * @param {{onAction: (action: object, el: HTMLElement) => void}} ctx
 */
export function renderWidget(node, ctx) {
  const el = render(node, ctx, 0);
  if (el instanceof Element) controls.linkLabels(el);
  return el;
}

/**
 * Apply a streamed widget update (`widget.streaming_text.value_delta`,
 * `widget.component.updated`, `widget.root.updated`) to the tree rendered at `root`;
 * returns the root element (a new one when the whole widget was replaced).
 */
export function applyWidgetUpdate(root, update, ctx) {
  if (update.type === "widget.root.updated") {
    const fresh = renderWidget(update.widget, ctx);
    root.replaceWith(fresh);
    return fresh;
  }
  const target = findComponent(root, update.component_id);
  if (!target) return root;
  if (update.type === "widget.streaming_text.value_delta") {
    target.dataset.value = (target.dataset.value || "") + String(update.delta ?? "");
    if (target.classList.contains("w-markdown")) {
      target.replaceChildren();
      appendMarkdown(target, target.dataset.value);
    } else target.textContent = target.dataset.value;
    target.classList.toggle("w-streaming", !update.done);
  } else if (update.type === "widget.component.updated") {
    const fresh = renderWidget(update.component, ctx);
    target.replaceWith(fresh);
    if (target === root) return fresh;
  }
  return root;
}

function findComponent(root, id) {
  if (root.dataset?.wid === id) return root;
  return [...root.querySelectorAll("[data-wid]")].find((el) => el.dataset.wid === id) || null;
}

function render(node, ctx, depth) {
  if (!node || typeof node !== "object" || depth > MAX_DEPTH) return document.createDocumentFragment();
  const type = String(node.type || "Box");
  const kids = (list) => (Array.isArray(list) ? list : list ? [list] : []).map((c) => render(c, ctx, depth + 1));
  let el;
  if (type in TEXT_TAGS) {
    el = document.createElement(TEXT_TAGS[type]);
    el.textContent = String(node.value ?? node.label ?? "");
    el.dataset.value = el.textContent;
  } else if (type === "Markdown") {
    el = document.createElement("div");
    el.dataset.value = String(node.value ?? "");
    appendMarkdown(el, el.dataset.value);
  } else if (type === "Icon") {
    el = icon(node.name) || document.createElement("span");
  } else if (type === "Image") {
    el = document.createElement("img");
    const src = safeHref(node.src);
    if (src && !/^http:/i.test(src)) el.src = src; // https, or a path on this site
    el.alt = String(node.alt || "");
  } else if (type === "Divider") {
    el = document.createElement("hr");
  } else if (type === "Spacer") {
    el = document.createElement("div");
  } else if (type === "Button") {
    el = button(node, ctx);
  } else if (type in CONTROLS) {
    el = CONTROLS[type](node, ctx);
  } else if (type === "Form") {
    el = controls.form(node, ctx, kids(node.children));
  } else if (type === "Chart") {
    el = chart(node);
  } else if (type === "ListView") {
    el = listView(node, ctx, kids(node.children));
  } else if (type === "Card") {
    el = card(node, ctx, kids(node.children));
  } else {
    if (!(type in BOXES)) console.info(`widget: unknown component ${type}; showing its children`);
    el = document.createElement(BOXES[type] || "div");
    if (typeof node.value === "string") el.textContent = node.value;
    el.append(...kids(node.children));
    if (node.onClickAction) clickable(el, node.onClickAction, ctx);
  }
  el.classList.add("w", `w-${type.toLowerCase()}`);
  style(el, node);
  if (node.key) el.dataset.key = String(node.key);
  if (node.id) el.dataset.wid = String(node.id);
  if (node.theme === "dark" || node.theme === "light") el.dataset.theme = node.theme;
  return el;
}

function card(node, ctx, children) {
  const el = document.createElement(node.asForm ? "form" : "div");
  if (node.status) el.append(status(node.status));
  el.append(...children);
  const actions = [node.confirm, node.cancel].filter((a) => a && a.action);
  if (actions.length) {
    const footer = document.createElement("div");
    footer.className = "w-card-actions";
    actions.forEach((entry, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = String(entry.label || (i ? "Cancel" : "Confirm"));
      b.className = `w-button w-style-${entry === node.cancel ? "secondary" : "primary"}`;
      b.addEventListener("click", () => {
        if (node.asForm && entry === node.confirm && !el.reportValidity()) return;
        for (const other of footer.querySelectorAll("button")) other.disabled = true;
        ctx.onAction(controls.withFormValues(entry.action, b), b);
        if (node.collapsed) el.classList.add("w-collapsed");
      });
      footer.append(b);
    });
    el.append(footer);
  }
  if (node.asForm) {
    el.classList.add("w-form"); // its fields' values go with confirm and cancel
    el.addEventListener("submit", (event) => event.preventDefault());
  }
  return el;
}

function listView(node, ctx, items) {
  const el = document.createElement("div");
  if (node.status) el.append(status(node.status));
  const list = document.createElement("ul");
  list.className = "w-list";
  list.append(...items);
  el.append(list);
  const limit = Number.isInteger(node.limit) ? node.limit : null;
  if (limit !== null && items.length > limit) {
    items.slice(limit).forEach((item) => { item.hidden = true; });
    const more = document.createElement("button");
    more.type = "button";
    more.className = "w-more";
    more.textContent = `Show ${items.length - limit} more`;
    more.addEventListener("click", () => {
      items.forEach((item) => { item.hidden = false; });
      more.remove();
    });
    el.append(more);
  }
  return el;
}

function status(value) {
  const el = document.createElement("div");
  el.className = "w-status";
  const mark = value.icon ? icon(value.icon) : null;
  if (mark) el.append(mark);
  el.append(String(value.text ?? ""));
  return el;
}

function button(node, ctx) {
  const el = document.createElement("button");
  el.type = node.submit ? "submit" : "button";
  if (node.iconStart) el.append(icon(node.iconStart) || "");
  el.append(String(node.label || ""));
  if (node.iconEnd) el.append(icon(node.iconEnd) || "");
  if (!el.textContent && node.iconStart) el.setAttribute("aria-label", String(node.iconStart));
  el.classList.add(`w-style-${node.style || "primary"}`);
  if (node.block) el.classList.add("w-block");
  el.disabled = Boolean(node.disabled) || (!node.onClickAction && !node.submit);
  if (!node.submit) {
    el.addEventListener("click", () => {
      if (el.disabled) return;
      el.disabled = true;
      ctx.onAction(controls.withFormValues(node.onClickAction, el), el);
    });
  }
  return el;
}

function clickable(el, action, ctx) {
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  el.classList.add("w-clickable");
  const fire = () => ctx.onAction(controls.withFormValues(action, el), el);
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
  for (const prop of ["size", "weight", "color", "style", "align", "justify", "textAlign", "variant"]) {
    const value = node[prop];
    if (typeof value === "string" && /^[a-z0-9-]+$/i.test(value)) el.classList.add(`w-${prop}-${value}`);
  }
  for (const prop of ["gap", "padding"]) {
    if (typeof node[prop] === "number") el.style[prop] = `${Math.min(node[prop], 32) * 4}px`;
  }
  if (typeof node.maxLines === "number") {
    el.classList.add("w-clamp");
    el.style.setProperty("-webkit-line-clamp", String(node.maxLines));
  }
  if (node.direction === "row") el.classList.add("w-row");
  if (node.wrap === "wrap") el.classList.add("w-wrap");
}
