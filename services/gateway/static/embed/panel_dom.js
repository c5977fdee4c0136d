// The embed's panel, built with DOM calls only (no HTML strings, so a host page's Trusted
// Types policy has nothing to refuse): the same elements the reader page's chat panel has,
// plus a launcher button, a close button and a start screen.

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") el.className = value;
    else if (key === "hidden") el.hidden = value;
    else if (value !== null && value !== undefined) el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

/** The panel's elements under `root` (a shadow root), by the names ChatPanel takes. */
export function buildPanel(root, { styles, options, docked }) {
  const els = {};
  const links = styles.map((href) => h("link", { rel: "stylesheet", href }));
  els.launcher = h(
    "button",
    { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "panel", part: "launcher" },
    options.title,
  );
  els.threadsToggle = h("button", { id: "threads-toggle", type: "button", "aria-expanded": "false" }, "Threads");
  els.threadsToggle.hidden = !options.history;
  els.threadTitle = h("span", { id: "thread-title", class: "thread-title" }, "New conversation");
  els.newThread = h("button", { id: "new-thread", type: "button", title: "Start a new conversation" }, "New");
  els.close = h("button", { type: "button", class: "close", "aria-label": "Close the assistant", title: "Close" }, "×");
  els.close.hidden = docked;
  const head = h("div", { class: "chat-head" }, els.threadsToggle, els.threadTitle, els.newThread, els.close);
  head.hidden = !options.header;
  els.threads = h("ul", { id: "threads", class: "threads", hidden: true });
  els.prompts = options.prompts.map((p) => h("button", { type: "button", class: "prompt" }, p.label));
  els.start = h(
    "div",
    { class: "start-screen" },
    h("p", { class: "greeting" }, options.greeting),
    h("div", { class: "prompts" }, ...els.prompts),
  );
  els.messages = h("div", { id: "messages", class: "messages", role: "log", "aria-live": "polite" });
  els.progress = h("div", { id: "progress", class: "progress", hidden: true });
  els.selectionText = h("q", { id: "selection-text" });
  els.selectionClear = h("button", { id: "selection-clear", type: "button", "aria-label": "Forget the selection" }, "×");
  els.selection = h(
    "div",
    { id: "selection", class: "selection", hidden: true },
    h("span", { class: "label" }, "About the selection:"),
    els.selectionText,
    els.selectionClear,
  );
  els.question = h("textarea", {
    id: "question",
    rows: "3",
    maxlength: "4000",
    placeholder: options.placeholder,
    "aria-label": "Your question",
  });
  els.status = h("span", { id: "status", class: "muted" });
  els.stop = h("button", { id: "stop", type: "button", hidden: true }, "Stop");
  els.send = h("button", { id: "send", type: "submit" }, "Ask");
  els.composer = h(
    "form",
    { id: "composer", class: "composer" },
    els.selection,
    els.question,
    h("div", { class: "composer-actions" }, els.status, els.stop, els.send),
  );
  els.panel = h(
    "section",
    { id: "panel", class: "chat panel", "aria-label": options.title, hidden: !docked, part: "panel" },
    head,
    els.threads,
    els.start,
    els.messages,
    els.progress,
    els.composer,
  );
  els.frame = h("div", { class: `frame ${docked ? "docked" : "floating"} ${options.colorScheme}`, hidden: true });
  els.frame.append(...(docked ? [els.panel] : [els.panel, els.launcher]));
  root.replaceChildren(...links, els.frame);
  els.loaded = Promise.all(
    links.map((link) => new Promise((done) => {
      link.addEventListener("load", done, { once: true });
      link.addEventListener("error", done, { once: true }); // unstyled beats invisible
    })),
  );
  return els;
}
