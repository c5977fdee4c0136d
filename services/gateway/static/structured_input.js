// ChatKit's structured input items: questions the assistant asks the reader (a choice among
// options, with room for an answer of their own, or free text), answered or skipped in
// place with `threads.add_structured_input`; once answered they show the answers.

const MAX_ANSWER = 2000;
let forms = 0;

/** The element for a `structured_input` item. `submit(input)` sends a
 * `StructuredInputSubmission` ({status, answers: {id: {values, skipped}}}). */
export function renderStructuredInput(item, submit) {
  if (item.status !== "pending") return answered(item);
  const form = document.createElement("form");
  form.className = "structured-input";
  const prefix = `si-${++forms}`;
  const readers = (item.inputs || []).map((input, i) => {
    const fieldset = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = String(input.question ?? "");
    fieldset.append(legend);
    form.append(fieldset);
    const name = `${prefix}-${i}`;
    const read = input.type === "multiple_choice" ? choice(fieldset, input, name) : freeform(fieldset, input, name);
    return [String(input.id), read];
  });
  const actions = document.createElement("div");
  actions.className = "structured-input-actions";
  const send = button("Send answers", "submit");
  const skip = button("Skip", "button");
  actions.append(send, skip);
  form.append(actions);
  const done = (input) => {
    for (const control of form.elements) control.disabled = true;
    submit(input);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const answers = {};
    for (const [id, read] of readers) {
      const values = read();
      answers[id] = { values, skipped: values.length === 0 };
    }
    done({ status: "answered", answers });
  });
  skip.addEventListener("click", () => done({ status: "skipped", answers: {} }));
  return form;
}

/** Options as radio buttons (checkboxes when several may be chosen) and an "Other" field. */
function choice(fieldset, input, name) {
  const type = input.multiple ? "checkbox" : "radio";
  const boxes = (input.options || []).map((option) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = type;
    box.name = name;
    box.value = String(option.value ?? "");
    label.append(box, ` ${box.value}`);
    fieldset.append(label);
    return box;
  });
  const other = document.createElement("input");
  other.type = "text";
  other.maxLength = MAX_ANSWER;
  other.className = "structured-input-other";
  other.placeholder = "Another answer";
  other.setAttribute("aria-label", `Another answer to: ${input.question ?? ""}`);
  if (!input.multiple) other.addEventListener("input", () => boxes.forEach((b) => (b.checked = false)));
  for (const box of boxes) if (!input.multiple) box.addEventListener("change", () => (other.value = ""));
  fieldset.append(other);
  return () => {
    const values = boxes.filter((b) => b.checked).map((b) => b.value);
    const own = other.value.trim();
    if (own) values.push(own);
    return input.multiple ? values : values.slice(0, 1);
  };
}

function freeform(fieldset, input, name) {
  if (input.description) {
    const about = document.createElement("p");
    about.className = "muted";
    about.textContent = String(input.description);
    fieldset.append(about);
  }
  const text = document.createElement("textarea");
  text.name = name;
  text.rows = 2;
  text.maxLength = MAX_ANSWER;
  text.setAttribute("aria-label", String(input.question ?? ""));
  fieldset.append(text);
  return () => (text.value.trim() ? [text.value.trim()] : []);
}

/** An answered (or skipped) request: each question with what the reader said. */
function answered(item) {
  const list = document.createElement("dl");
  list.className = "structured-input done";
  for (const input of item.inputs || []) {
    const question = document.createElement("dt");
    question.textContent = String(input.question ?? "");
    const answer = document.createElement("dd");
    const values = input.answer?.values || [];
    answer.textContent = input.answer?.skipped || !values.length ? "Skipped" : values.join(", ");
    list.append(question, answer);
  }
  return list;
}

function button(text, type) {
  const el = document.createElement("button");
  el.type = type;
  el.textContent = text;
  return el;
}
