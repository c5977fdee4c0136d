// The chat panel: sends questions with the reader's context, renders the ChatKit event stream
// (text deltas, citations, progress, widgets), runs the highlight_passage client tool, and
// manages threads (list, reopen, rename, delete) with native ChatKit requests.

import { ApiError, call, resume, stopStream, stream, userInput } from "./api.js";
import { icon, iconButton } from "./icons.js";
import { appendMarkdown, safeHref } from "./markdown.js";
import { chatkitEvents } from "./sse.js";
import { MentionPicker } from "./mentions.js";
import { applyWidgetUpdate, renderWidget } from "./widgets.js";
import { attachmentView } from "./attachments.js";
import { applyWorkflowUpdate, renderTaskItem, renderWorkflow } from "./workflow.js";
import { renderStructuredInput } from "./structured_input.js";

const HISTORY_PAGE = 20; // items of a reopened thread loaded at a time, newest first
const THREAD_PAGES = 4; // pages of 50 threads listed (and searched) at the most
const RECONNECTS = 6; // tries to resume an answer whose connection dropped (over about 24 s)

export class ChatPanel {
  /** `book`: the page the panel sits beside (BookView, or the embed's HostPage). `options`:
   * `api` (a gatewayClient; default this page's gateway), `onClientTool` (ChatKit's: client
   * tools other than highlight_passage), `onTagSearch` (ChatKit's `entities.onTagSearch`),
   * `citationHref(source)` (a citation's link), `onThread(id)` (the open thread changed). */
  constructor(els, book, options = {}) {
    this.els = els;
    this.book = book;
    this.options = options;
    this.api = options.api || { call, stream, resume, stopStream };
    this.threadId = null;
    this.controller = null; // AbortController of the running stream
    this.idle = Promise.resolve(); // settles when the running stream ends
    this.items = new Map(); // item id -> rendered item state
    // First: while its list is open, the picker takes Enter before the composer sends.
    this.mentions = new MentionPicker(els.question, els.composer, options.onTagSearch);
    els.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    els.question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.ask();
      }
    });
    els.stop.addEventListener("click", () => this.stop());
    els.newThread.addEventListener("click", () => this.reset());
    els.threadsToggle.addEventListener("click", () => this.toggleThreads());
    els.selectionClear.addEventListener("click", () => book.clearSelection());
    els.messages.addEventListener("click", (event) => {
      const link = event.target.closest("a[href]");
      if (!link) return;
      event.preventDefault();
      book.follow(link.href).then((ok) => ok || window.open(link.href, "_blank", "noopener"));
    });
    book.onSelection = (text) => {
      els.selection.hidden = !text;
      els.selectionText.textContent = text.length > 160 ? `${text.slice(0, 160)}…` : text;
    };
  }

  get busy() {
    return this.controller !== null;
  }

  reset() {
    if (this.busy) this.stop();
    this.threadId = null;
    this.options.onThread?.(null);
    this.items.clear();
    this.olderItems = null;
    this.els.messages.replaceChildren();
    this.els.threadTitle.textContent = "New conversation";
  }

  async ask() {
    const text = this.els.question.value.trim();
    if (!text || this.busy || this.attachments?.busy) return;
    const selected = this.book.selection;
    const metadata = { page_context: this.book.pageContext, selected_text: selected || null };
    const input = userInput(this.mentions.content(text), selected, this.attachments?.ids());
    this.attachments?.clear();
    this.mentions.close();
    this.pendingTitle = text;
    this.els.question.value = "";
    this.book.clearSelection();
    if (this.threadId) {
      await this.run("threads.add_user_message", { thread_id: this.threadId, input }, metadata);
    } else {
      await this.run("threads.create", { input }, metadata);
    }
  }

  /** Stop the answer: explicitly (a dropped connection alone leaves it running a while).
   * A new thread not named yet is stopped as soon as its stream names it. */
  stop() {
    if (!this.busy) return;
    if (!this.threadId && this.api.stopStream) {
      this.stopWhenNamed = true;
      this.els.status.textContent = "Stopping…";
      return;
    }
    if (this.threadId) this.api.stopStream?.(this.threadId).catch(() => {});
    this.controller?.abort();
  }

  /** Send one streaming request and render its events until the stream ends. */
  async run(type, params, metadata) {
    await this.#follow((signal) => this.api.stream(type, params, metadata, signal));
  }

  /** Render the events of the stream `open(signal)` gives until it ends; after a network
   * drop, resume it from the last event seen. A stream that can no longer be resumed
   * has ended: the thread is read again instead. */
  async #follow(open, controller = new AbortController()) {
    this.controller = controller;
    this.stopWhenNamed = false;
    const signal = this.controller.signal;
    let settle;
    this.idle = new Promise((resolve) => (settle = resolve));
    this.#setBusy(true);
    let pendingTool = null;
    let lastId = null;
    let reread = false;
    try {
      let response = await open(signal);
      while (response) {
        try {
          for await (const event of chatkitEvents(response, (id) => (lastId = id))) {
            const tool = this.#apply(event);
            if (tool) pendingTool = tool;
          }
          break;
        } catch (error) {
          if (!(error instanceof TypeError) || !this.threadId || !this.api.resume) throw error;
          response = await this.#reconnect(lastId, signal);
          reread = !response;
        }
      }
    } catch (error) {
      if (error.name === "AbortError") {
        this.#notice("Stopped. The partial answer is kept in the thread.", "info");
      } else if (error instanceof ApiError) {
        this.#notice(error.friendly, "error", error.requestId);
      } else {
        this.#notice(`The answer was interrupted (${error.message}).`, "error");
      }
    } finally {
      this.controller = null;
      this.#setBusy(false);
      this.#progress(null);
      for (const state of this.items.values()) state.el?.classList.remove("streaming");
      this.refreshThreads(); // titles are given when an answer ends (or is stopped)
    }
    try {
      if (reread) await this.open(this.threadId);
      else if (pendingTool) await this.#runClientTool(pendingTool);
    } finally {
      settle(); // after the client tool's own request, so a waiting action goes last
    }
  }

  /** The dropped stream resumed after event `lastId` (null when there is none to resume),
   * trying again with growing pauses while the network is down. */
  async #reconnect(lastId, signal) {
    for (let attempt = 1; ; attempt++) {
      this.els.status.textContent = "Connection lost; reconnecting…";
      await pause(Math.min(8000, 250 * 2 ** attempt), signal);
      try {
        const response = await this.api.resume(this.threadId, lastId, signal);
        this.els.status.textContent = "Answering…";
        return response;
      } catch (error) {
        if (!(error instanceof TypeError) || attempt >= RECONNECTS) throw error;
      }
    }
  }

  // -- stream events ----------------------------------------------------------------------

  #apply(event) {
    switch (event.type) {
      case "thread.created":
        this.threadId = event.thread.id;
        this.options.onThread?.(this.threadId);
        if (this.stopWhenNamed) this.stop();
        // The server names the thread from the question once the answer is done.
        this.#title(event.thread.title || this.pendingTitle);
        this.refreshThreads();
        return null;
      case "thread.updated":
        this.#title(event.thread.title);
        this.refreshThreads();
        return null;
      case "thread.item.added":
        this.#render(event.item, true);
        return null;
      case "thread.item.done":
        this.#render(event.item, false);
        return event.item.type === "client_tool_call" && event.item.status === "pending"
          ? event.item
          : null;
      case "thread.item.replaced":
        this.#render(event.item, false);
        return null;
      case "thread.item.removed":
        this.items.get(event.item_id)?.el?.remove();
        this.items.delete(event.item_id);
        return null;
      case "thread.item.updated":
        this.#update(event.item_id, event.update);
        return null;
      case "progress_update":
        this.#progress(event.text, event.icon);
        return null;
      case "notice":
        this.#notice(event.message, event.level === "danger" ? "error" : "info");
        return null;
      case "error":
        this.#notice(event.message || "The assistant hit an error; please retry.", "error");
        if (event.allow_retry) this.#offerRetry();
        return null;
      default:
        return null; // stream_options, client_effect, ...
    }
  }

  #render(item, streaming) {
    let state = this.items.get(item.id);
    if (item.type === "user_message") {
      if (state) return;
      const el = bubble("user");
      if (item.quoted_text) {
        const quote = document.createElement("blockquote");
        quote.textContent = item.quoted_text;
        el.append(quote);
      }
      const body = document.createElement("div");
      for (const part of item.content) {
        if (part.type === "input_tag") {
          const chip = document.createElement("span");
          chip.className = "mention";
          chip.textContent = `@${part.text}`;
          body.append(chip);
        } else {
          body.append(part.text);
        }
      }
      el.append(body);
      if (item.attachments?.length) {
        const files = document.createElement("div");
        files.className = "attachments-sent";
        for (const attachment of item.attachments) {
          files.append(attachmentView(attachment, safeHref(attachment.preview_url || "")));
        }
        el.append(files);
      }
      this.#append(item.id, { el, user: true });
      return;
    }
    if (item.type === "assistant_message") {
      if (!state) {
        state = { el: bubble("assistant"), parts: [], assistant: true };
        state.body = document.createElement("div");
        state.body.className = "text";
        state.sources = document.createElement("ul");
        state.sources.className = "sources";
        const actions = feedback(item, this.api);
        state.retry = this.#retryButton(() => this.#userMessageBefore(item.id));
        actions.append(this.#copyButton(state), state.retry);
        state.el.append(state.body, state.sources, actions);
        this.#append(item.id, state);
      }
      state.parts = item.content.map((c) => ({ text: c.text, annotations: c.annotations || [] }));
      state.el.classList.toggle("streaming", streaming);
      this.#paint(state);
      if (!streaming) this.#progress(null);
      return;
    }
    if (item.type === "widget") {
      const el = bubble("widget");
      el.append(this.#widget(item.widget, item.id));
      this.#place(item.id, state, el);
      return;
    }
    if (item.type === "structured_input") {
      const el = bubble("structured");
      el.append(renderStructuredInput(item, (input) => this.answer(item.id, input)));
      this.#place(item.id, state, el); // answered: the answers in the question's place
      return;
    }
    if (item.type === "workflow") {
      const el = bubble("workflow");
      el.append(renderWorkflow(item.workflow, streaming));
      if (state?.el?.isConnected) state.el.replaceWith(el);
      else this.#append(item.id, { el, workflow: item.workflow });
      this.items.set(item.id, { el, workflow: item.workflow, streaming });
      return;
    }
    if (item.type === "task") {
      const el = state?.el || bubble("task");
      el.setAttribute("role", "status"); // says which agent answers from here on
      el.replaceChildren(renderTaskItem(item.task));
      if (!state) this.#append(item.id, { el });
      return;
    }
    if (item.type === "client_tool_call") {
      const el = state?.el || bubble("tool");
      el.textContent = toolLabel(item);
      if (!state) this.#append(item.id, { el });
    }
    // hidden context, end of turn: nothing to show
  }

  #update(itemId, update) {
    const state = this.items.get(itemId);
    if (String(update.type).startsWith("workflow.") && state?.workflow) {
      state.workflow = applyWorkflowUpdate(state.workflow, update);
      const open = state.el.querySelector("details")?.open;
      const fresh = renderWorkflow(state.workflow, state.streaming);
      if (open !== undefined) fresh.open = open;
      state.el.replaceChildren(fresh);
      return;
    }
    if (String(update.type).startsWith("widget.")) {
      const root = state?.el?.firstElementChild;
      if (root) applyWidgetUpdate(root, update, this.#widgetActions(itemId));
      return;
    }
    if (!state?.parts) return;
    const part = (state.parts[update.content_index] ??= { text: "", annotations: [] });
    switch (update.type) {
      case "assistant_message.content_part.added":
        part.text = update.content.text || "";
        part.annotations = update.content.annotations || [];
        break;
      case "assistant_message.content_part.text_delta":
        part.text += update.delta;
        this.#progress(null);
        break;
      case "assistant_message.content_part.annotation_added":
        part.annotations[update.annotation_index] = update.annotation;
        break;
      case "assistant_message.content_part.done":
        part.text = update.content.text;
        part.annotations = update.content.annotations || [];
        break;
      default:
        return;
    }
    this.#paint(state);
  }

  /** Text with citation markers linked to their sources, and the list of sources below. */
  #paint(state) {
    const numbers = new Map(); // source key -> citation number given when none was written
    const sources = new Map(); // source key -> {source, labels}
    state.body.replaceChildren();
    for (const part of state.parts) {
      const marks = part.annotations
        .filter((a) => a && a.source)
        .map((a) => ({ at: a.index ?? part.text.length, source: this.#cited(a.source) }))
        .sort((a, b) => a.at - b.at);
      let cursor = 0;
      let queued = []; // the rest of a written "[1, 3]", for the marks at the same place
      const paragraph = document.createElement("p");
      for (const mark of marks) {
        const key = sourceHref(mark.source) || mark.source.title;
        if (!numbers.has(key)) numbers.set(key, numbers.size + 1);
        const end = Math.max(cursor, Math.min(mark.at, part.text.length));
        let label;
        if (queued.length && end === cursor) {
          label = `[${queued.shift()}]`;
        } else {
          // The model usually wrote "[n]" right before the mark (n numbers the passage, as
          // in the sources card): that text becomes the link. Otherwise number it here.
          const before = part.text.slice(cursor, end);
          const written = /\[(\d+(?:\s*,\s*\d+)*)\]$/.exec(before);
          queued = written ? written[1].split(/\s*,\s*/) : [];
          label = written ? `[${queued.shift()}]` : `[${numbers.get(key)}]`;
          appendMarkdown(paragraph, written ? before.slice(0, -written[0].length) : before);
        }
        paragraph.append(citation(mark.source, label));
        cursor = end;
        const entry = sources.get(key) || { source: mark.source, labels: [] };
        if (!entry.labels.includes(label)) entry.labels.push(label);
        sources.set(key, entry);
      }
      appendMarkdown(paragraph, part.text.slice(cursor));
      state.body.append(paragraph);
    }
    state.sources.replaceChildren(...[...sources.values()].map(({ source, labels }) => {
      const li = document.createElement("li");
      const name = [source.title, source.description?.split(" / ").slice(1).join(" / ")]
        .filter(Boolean)
        .join(" — ");
      li.append(citation(source, `${labels.join("")} ${name || sourceHref(source) || "source"}`));
      return li;
    }));
    this.els.messages.scrollTop = this.els.messages.scrollHeight;
  }

  /** A ChatKit widget; its actions are sent back as `threads.custom_action`. */
  #widget(node, itemId) {
    return renderWidget(node, this.#widgetActions(itemId));
  }

  #widgetActions(itemId) {
    return {
      onAction: async (action, el) => {
        const threadId = this.threadId;
        // An action pressed while an answer streams (a quiz card's button while the tutor
        // is still writing) is sent when that answer ends.
        while (this.busy && this.threadId === threadId) await this.idle;
        if (!threadId || this.threadId !== threadId || this.busy) {
          el.disabled = false;
          return;
        }
        await this.run("threads.custom_action", { thread_id: this.threadId, item_id: itemId, action });
      },
    };
  }

  async #runClientTool(item) {
    let result;
    if (item.name === "highlight_passage") {
      try {
        result = await this.book.highlight(item.arguments || {});
      } catch (error) {
        result = { highlighted: false, reason: String(error) };
      }
      result.ok = result.highlighted; // the agent reads `ok` / `error`
      if (!result.ok) result.error = result.reason || "not highlighted";
    } else if (this.options.onClientTool) {
      try {
        result = (await this.options.onClientTool({ name: item.name, params: item.arguments || {} })) ?? {};
      } catch (error) {
        result = { error: String(error) };
      }
    } else {
      result = { error: `unknown client tool ${item.name}` };
    }
    this.#render({ ...item, status: "completed", output: result }, false);
    await this.run("threads.add_client_tool_output", { thread_id: item.thread_id, result });
  }

  // -- threads --------------------------------------------------------------------------

  toggleThreads() {
    const list = this.els.threads;
    list.hidden = !list.hidden;
    this.els.threadsToggle.setAttribute("aria-expanded", String(!list.hidden));
    this.#searchBox().hidden = list.hidden;
    if (!list.hidden) this.refreshThreads();
  }

  /** The box that filters the thread list by title (made with the list's first showing). */
  #searchBox() {
    if (!this.threadSearch) {
      const box = document.createElement("input");
      box.type = "search";
      box.className = "thread-search";
      box.placeholder = "Search conversations";
      box.setAttribute("aria-label", "Search conversations by title");
      box.maxLength = 200;
      box.addEventListener("input", () => this.#showThreads());
      this.els.threads.before(box);
      this.threadSearch = box;
    }
    return this.threadSearch;
  }

  async refreshThreads() {
    if (this.els.threads.hidden) return;
    const threads = [];
    try {
      let after = null;
      for (let pages = 0; pages < THREAD_PAGES; pages++) {
        const page = await this.api.call("threads.list", { limit: 50, order: "desc", after });
        threads.push(...page.data);
        if (!page.has_more || !page.after) break;
        after = page.after;
      }
    } catch (error) {
      this.#notice(error.friendly || String(error), "error");
      return;
    }
    this.threadList = threads;
    this.#showThreads();
  }

  #showThreads() {
    const words = (this.threadSearch?.value || "").toLowerCase().split(/\s+/).filter(Boolean);
    const shown = (this.threadList || []).filter((thread) => {
      const title = (thread.title || "").toLowerCase();
      return words.every((word) => title.includes(word));
    });
    this.els.threads.replaceChildren(...shown.map((thread) => this.#threadRow(thread)));
    if (!shown.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = words.length ? "No conversation has that in its title." : "No conversations yet.";
      this.els.threads.append(empty);
    }
  }

  #threadRow(thread) {
    const li = document.createElement("li");
    li.className = "thread-item";
    li.dataset.threadId = thread.id;
    li.classList.toggle("active", thread.id === this.threadId);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    // A thread stopped before its first answer ended may not have its title saved yet.
    const current = thread.id === this.threadId ? this.els.threadTitle.textContent : null;
    open.textContent = thread.title || current || "Untitled conversation";
    // The open thread is already on screen (a reload reopens it by itself): nothing to do.
    open.addEventListener("click", () => thread.id !== this.threadId && this.open(thread.id));
    const rename = iconButton("pencil", "Rename", "rename");
    rename.addEventListener("click", async () => {
      const title = prompt("New title", thread.title || "");
      if (!title) return;
      await this.api.call("threads.update", { thread_id: thread.id, title });
      if (thread.id === this.threadId) this.#title(title);
      this.refreshThreads();
    });
    const remove = iconButton("trash", "Delete", "delete");
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete “${thread.title || "Untitled conversation"}”?`)) return;
      await this.api.call("threads.delete", { thread_id: thread.id });
      if (thread.id === this.threadId) this.reset();
      this.refreshThreads();
    });
    li.append(open, rename, remove);
    return li;
  }

  /** Reopen a thread: its newest items; older ones as the reader scrolls up. */
  async open(threadId) {
    if (this.busy) this.stop();
    const thread = await this.api.call("threads.get_by_id", { thread_id: threadId });
    this.reset();
    this.threadId = thread.id;
    this.options.onThread?.(this.threadId);
    this.#title(thread.title);
    this.olderItems = { after: null, more: true };
    await this.#loadOlder();
    this.els.messages.scrollTop = this.els.messages.scrollHeight;
    this.refreshThreads();
    // An answer still being written (the page was reloaded mid-answer): shown as it goes on.
    const controller = new AbortController();
    const running = await this.api.resume?.(thread.id, null, controller.signal).catch(() => null);
    if (running && this.threadId === thread.id && !this.busy) this.#follow(() => running, controller);
  }

  /** The page of items before those shown, put above them, the reader's view kept still.
   * A "Show earlier messages" button heads a thread with more: clicked, or scrolled into
   * view, it loads the next page. */
  async #loadOlder() {
    const older = this.olderItems;
    if (!older?.more || older.loading || !this.threadId) return;
    older.loading = true;
    const threadId = this.threadId;
    let page;
    try {
      page = await this.api.call("items.list", {
        thread_id: threadId,
        after: older.after,
        order: "desc",
        limit: HISTORY_PAGE,
      });
    } finally {
      older.loading = false;
    }
    if (older !== this.olderItems) return; // the thread was opened again (or another) meanwhile
    const messages = this.els.messages;
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    const shown = new Map(this.items);
    this.items.clear();
    for (const item of [...page.data].reverse()) this.#render(item, false);
    const loaded = [...this.items.values()].map((state) => state.el).filter(Boolean);
    for (const [id, state] of shown) this.items.set(id, state); // the Map keeps thread order
    this.#markRetries();
    messages.querySelector(".load-earlier")?.remove();
    messages.prepend(...loaded);
    older.after = page.after;
    older.more = Boolean(page.has_more && page.after);
    if (older.more) messages.prepend(this.#earlierButton());
    messages.scrollTop = messages.scrollHeight - fromBottom;
  }

  #earlierButton() {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "load-earlier";
    button.textContent = "Show earlier messages";
    button.addEventListener("click", () => this.#loadOlder());
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        seen.disconnect();
        this.#loadOlder();
      }
    });
    seen.observe(button);
    return button;
  }

  // -- small helpers --------------------------------------------------------------------

  /** A citation's source with the link the page wants (`citationHref`), else as sent. */
  #cited(source) {
    const href = source && this.options.citationHref?.(source);
    return href ? { ...source, url: href } : source;
  }

  /** A widget-like item (a widget, a structured input): a new one goes at the end, an
   * update keeps its place in the conversation. Either is a reply to an action, never to
   * a question (`#markRetries`). */
  #place(id, state, el) {
    if (state?.el?.isConnected) {
      state.el.replaceWith(el);
      this.items.set(id, { el, widget: true });
    } else {
      this.#append(id, { el, widget: true });
    }
  }

  #append(id, state) {
    this.items.set(id, state);
    this.#markRetries();
    this.els.messages.append(state.el);
    this.els.messages.scrollTop = this.els.messages.scrollHeight;
  }

  #title(title) {
    this.els.threadTitle.textContent = title || "Untitled conversation";
  }

  #progress(text, name) {
    this.els.progress.hidden = !text;
    this.els.progress.replaceChildren();
    if (text) this.els.progress.append(icon(name) || icon("info"), text);
  }

  /** The id of the last user message before `itemId` (or the last one of all). */
  #userMessageBefore(itemId) {
    let found = null;
    for (const [id, state] of this.items) {
      if (id === itemId) break;
      if (state.user) found = id;
    }
    return found;
  }

  /** Send the reader's answers to a structured input item (`threads.add_structured_input`):
   * the item comes back answered, and the assistant goes on. */
  async answer(itemId, input) {
    const threadId = this.threadId;
    // Asked mid-answer: sent once that answer (and any client tool it calls) has ended.
    while (this.busy && this.threadId === threadId) await this.idle;
    if (!threadId || threadId !== this.threadId) return;
    await this.run("threads.add_structured_input", { thread_id: threadId, item_id: itemId, input });
  }

  /** Answer the user message `userId` again (`threads.retry_after_item`): what came after
   * it goes, from the thread and from the screen. */
  async retry(userId) {
    if (!userId || !this.threadId || this.busy) return;
    let after = false;
    for (const [id, state] of [...this.items]) {
      if (after) {
        state.el?.remove();
        this.items.delete(id);
      }
      if (id === userId) after = true;
    }
    for (const el of this.els.messages.querySelectorAll(".msg.notice")) el.remove();
    await this.run("threads.retry_after_item", { thread_id: this.threadId, item_id: userId });
  }

  /** "Answer again" only on the answer to a user message: the first reply after it. A
   * reply to a widget's action (a quiz's results, more sources) has no question of its
   * own to answer again (the one before it would be, a new quiz instead of the results). */
  #markRetries() {
    let asked = false; // a user message came, and nothing answered it yet
    for (const state of this.items.values()) {
      if (state.user) asked = true;
      else if (state.assistant) {
        state.retry.hidden = !asked;
        asked = false;
      } else if (state.widget) asked = false;
    }
  }

  #retryButton(userId) {
    const button = iconButton("retry", "Answer again", "retry");
    button.addEventListener("click", () => this.retry(userId()));
    return button;
  }

  #copyButton(state) {
    const button = iconButton("copy", "Copy the answer", "copy");
    button.addEventListener("click", async () => {
      const text = state.parts.map((p) => p.text).join("\n\n");
      try {
        await navigator.clipboard.writeText(text);
        button.title = "Copied";
      } catch {
        button.title = "Could not copy";
      }
      button.setAttribute("aria-label", button.title);
    });
    return button;
  }

  #offerRetry() {
    const notices = this.els.messages.querySelectorAll(".msg.notice.error");
    const notice = notices[notices.length - 1];
    if (!notice) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "notice-retry";
    button.textContent = "Retry";
    button.addEventListener("click", () => this.retry(this.#userMessageBefore(null)));
    notice.append(" ", button);
  }

  #notice(message, level, requestId) {
    const el = bubble(`notice ${level}`);
    el.textContent = message + (requestId ? ` (request ${requestId.slice(0, 8)})` : "");
    this.els.messages.append(el);
    this.els.messages.scrollTop = this.els.messages.scrollHeight;
  }

  #setBusy(busy) {
    this.els.stop.hidden = !busy;
    this.els.send.disabled = busy;
    this.els.status.textContent = busy ? "Answering…" : "";
  }
}

/** Resolves after `ms`, or rejects with an AbortError once `signal` aborts. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

function bubble(kind) {
  const el = document.createElement("div");
  el.className = `msg ${kind}`;
  return el;
}

function toolLabel(item) {
  if (item.name !== "highlight_passage") return `Tool: ${item.name}`;
  if (item.status === "pending") return "Showing the passage in the book…";
  return item.output?.highlighted === false
    ? "Could not highlight the passage in the book."
    : "Highlighted the passage in the book.";
}

function sourceHref(source) {
  return source.type === "url" ? safeHref(source.url) : null;
}

function citation(source, label) {
  const href = sourceHref(source);
  const el = document.createElement(href ? "a" : "span");
  el.className = "cite";
  el.textContent = label;
  el.title = source.title || "";
  if (href) el.href = href;
  return el;
}

/** The row under an answer: feedback buttons (the caller adds copy and retry). */
function feedback(item, api) {
  const box = document.createElement("div");
  box.className = "feedback";
  const thumbs = document.createElement("span");
  for (const [kind, name, label] of [
    ["positive", "thumbs-up", "This helped"],
    ["negative", "thumbs-down", "This did not help"],
  ]) {
    const button = iconButton(name, label, kind);
    button.addEventListener("click", async () => {
      await api.call("items.feedback", { thread_id: item.thread_id, item_ids: [item.id], kind });
      thumbs.textContent = "Thanks for the feedback.";
    });
    thumbs.append(button);
  }
  box.append(thumbs);
  return box;
}
