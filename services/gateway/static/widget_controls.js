// The form controls of ChatKit widgets: Form, Input, Textarea, Select, Checkbox, RadioGroup,
// DatePicker and Label. Every control keeps its `name`; an action fired from inside a Form
// (its submit, or any button in it) carries the form's values in its payload, by name, as
// ChatKit's own renderer sends them. A control outside a form sends its `onChangeAction`
// with `{[name]: value}` added to the payload.

let ids = 0;

/** `action` with the values of the form around `el` (if any) merged into its payload. */
export function withFormValues(action, el) {
  const form = el?.closest?.("form.w-form");
  if (!form) return action;
  return { ...action, payload: { ...(action.payload || {}), ...formValues(form) } };
}

/** Each named control's value: text as typed, a checkbox as true/false, a radio group's
 * checked option (or null), a select's chosen value. */
export function formValues(form) {
  const values = {};
  for (const control of form.querySelectorAll("input[name], textarea[name], select[name]")) {
    if (control.closest("form.w-form") !== form) continue; // a nested form's own
    if (control.type === "checkbox") values[control.name] = control.checked;
    else if (control.type === "radio") {
      if (!(control.name in values)) values[control.name] = null;
      if (control.checked) values[control.name] = control.value;
    } else values[control.name] = control.value;
  }
  return values;
}

/** A `<form>` that sends `onSubmitAction` with its values; Enter in a field submits. */
export function form(node, ctx, children) {
  const el = document.createElement("form");
  el.noValidate = false;
  el.append(...children);
  el.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!node.onSubmitAction || !el.reportValidity()) return;
    const submitter = event.submitter;
    if (submitter) submitter.disabled = true;
    ctx.onAction(withFormValues(node.onSubmitAction, el), submitter || el);
  });
  return el;
}

export function input(node, ctx) {
  const el = document.createElement("input");
  const type = ["number", "email", "text", "password", "tel", "url"].includes(node.inputType)
    ? node.inputType
    : "text";
  el.type = type;
  common(el, node);
  if (node.defaultValue != null) el.value = String(node.defaultValue);
  if (node.placeholder) el.placeholder = String(node.placeholder);
  if (node.pattern) el.pattern = String(node.pattern);
  if (node.autoSelect) queueMicrotask(() => el.select());
  if (!node.allowAutofillExtensions) el.autocomplete = "off";
  onChange(el, node, ctx, "change");
  return el;
}

export function textarea(node, ctx) {
  const el = document.createElement("textarea");
  common(el, node);
  if (node.defaultValue != null) el.value = String(node.defaultValue);
  if (node.placeholder) el.placeholder = String(node.placeholder);
  el.rows = Number.isInteger(node.rows) ? Math.min(Math.max(node.rows, 1), 40) : 3;
  if (node.autoResize) {
    const most = Number.isInteger(node.maxRows) ? node.maxRows : 12;
    el.addEventListener("input", () => {
      el.rows = Math.min(Math.max(el.value.split("\n").length, el.rows), most);
    });
  }
  onChange(el, node, ctx, "change");
  return el;
}

export function select(node, ctx) {
  const el = document.createElement("select");
  common(el, node);
  if (node.placeholder || node.defaultValue == null || node.clearable) {
    const blank = new Option(String(node.placeholder || ""), "");
    blank.disabled = Boolean(node.required);
    el.append(blank);
  }
  for (const option of node.options || []) {
    const item = new Option(String(option.label ?? option.value), String(option.value));
    item.disabled = Boolean(option.disabled);
    el.append(item);
  }
  if (node.defaultValue != null) el.value = String(node.defaultValue);
  onChange(el, node, ctx, "change");
  if (!node.searchable && !node.clearable) return el;
  const box = document.createElement("span");
  box.className = "w-select-box";
  const choose = (value) => {
    el.value = value;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  if (node.searchable) box.append(searchBox(el, node, choose));
  box.append(el);
  if (node.clearable) {
    const clear = document.createElement("button");
    clear.type = "button";
    clear.className = "w-select-clear";
    clear.textContent = "×";
    clear.disabled = el.disabled;
    clear.setAttribute("aria-label", `Clear ${node.placeholder || node.name}`);
    clear.addEventListener("click", () => choose(""));
    box.append(clear);
  }
  return box;
}

/** A filter for a searchable Select: typing hides the options that do not contain the text;
 * Enter chooses the first one left (and does not submit the form around it). */
function searchBox(el, node, choose) {
  const search = document.createElement("input");
  search.type = "search";
  search.className = "w-select-search";
  search.placeholder = "Filter…";
  search.disabled = el.disabled;
  search.setAttribute("aria-label", `Filter the choices of ${node.placeholder || node.name}`);
  const shown = () => [...el.options].filter((option) => option.value && !option.hidden && !option.disabled);
  search.addEventListener("input", () => {
    const text = search.value.trim().toLowerCase();
    for (const option of el.options) {
      if (option.value) option.hidden = Boolean(text) && !option.text.toLowerCase().includes(text);
    }
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const [first] = shown();
    if (first) choose(first.value);
  });
  return search;
}

export function checkbox(node, ctx) {
  const el = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  common(box, node);
  box.checked = Boolean(node.defaultChecked);
  el.append(box, node.label ? ` ${node.label}` : "");
  onChange(box, node, ctx, "change", () => box.checked);
  return el;
}

export function radioGroup(node, ctx) {
  const el = document.createElement("div");
  el.setAttribute("role", "radiogroup");
  el.setAttribute("aria-label", String(node.ariaLabel || node.name));
  if (node.direction === "row") el.classList.add("w-row");
  const group = `w-${++ids}-${node.name}`;
  for (const option of node.options || []) {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = String(node.name);
    radio.value = String(option.value);
    radio.dataset.group = group;
    radio.checked = node.defaultValue != null && String(node.defaultValue) === radio.value;
    radio.disabled = Boolean(node.disabled || option.disabled);
    radio.required = Boolean(node.required);
    onChange(radio, node, ctx, "change", () => radio.value);
    label.append(radio, ` ${option.label ?? option.value}`);
    el.append(label);
  }
  return el;
}

export function datePicker(node, ctx) {
  const el = document.createElement("input");
  el.type = "date";
  common(el, node);
  const day = (value) => (typeof value === "string" ? value.slice(0, 10) : "");
  if (node.defaultValue) el.value = day(node.defaultValue);
  if (node.min) el.min = day(node.min);
  if (node.max) el.max = day(node.max);
  onChange(el, node, ctx, "change");
  return el;
}

/** A `<label>` for the control named `fieldName`; tied to it once the tree is built. */
export function label(node) {
  const el = document.createElement("label");
  el.textContent = String(node.value ?? "");
  el.dataset.field = String(node.fieldName ?? "");
  return el;
}

/** Tie each Label of `root` to the first control of its `fieldName` (ids made unique). */
export function linkLabels(root) {
  for (const el of root.querySelectorAll("label.w-label[data-field]")) {
    const control = [...root.querySelectorAll("input[name], textarea[name], select[name]")].find(
      (c) => c.name === el.dataset.field,
    );
    if (!control) continue;
    if (!control.id) control.id = `w-${++ids}-${control.name}`;
    el.htmlFor = control.id;
  }
}

function common(el, node) {
  el.name = String(node.name ?? "");
  el.disabled = Boolean(node.disabled);
  if (node.required) el.required = true;
  if (node.autoFocus) queueMicrotask(() => el.focus());
  if (node.block) el.classList.add("w-block");
}

function onChange(el, node, ctx, event, value = () => el.value) {
  if (!node.onChangeAction) return;
  el.addEventListener(event, () => {
    const action = node.onChangeAction;
    const inForm = el.closest("form.w-form");
    ctx.onAction(
      inForm
        ? withFormValues(action, el)
        : { ...action, payload: { ...(action.payload || {}), [el.name]: value() } },
      el,
    );
  });
}
