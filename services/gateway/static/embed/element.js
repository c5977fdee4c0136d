// <book-assistant>: the platform's chat panel as a custom element any page can carry. Its
// modules and styles come from the gateway that served this file; it talks to that gateway
// across origins (CORS with the gateway's cookie, or a bearer token), in a shadow root so
// neither page's styles reach the other. Attributes: `docked` (in the page's flow, always
// open; otherwise a floating button opens it), `api-url`, `token`, `color-scheme`,
// `site-root`, `data-chapter`, `data-lesson`, `data-page`. Property `options` (or
// `setOptions()`): ChatKit-style options, see options.js. Property `host`: the page beside
// the panel, when it is not simply this document (the bundled reader passes its book).
// Events, as @openai/chatkit's: `chatkit.ready`, `chatkit.thread.change`.

import { gatewayClient } from "../api.js";
import { AttachmentTray } from "../attachments.js";
import { ChatPanel } from "../chat.js";
import { Dictation, features } from "../dictation.js";
import { citationLinker } from "./citations.js";
import { HostPage } from "./host_page.js";
import { resolveOptions } from "./options.js";
import { buildPanel } from "./panel_dom.js";

const GATEWAY = new URL("/", import.meta.url).origin;
const STYLES = [new URL("../style.css", import.meta.url).href, new URL("embed.css", import.meta.url).href];
const MAX_TOC_PAGES = 20_000;

export class BookAssistant extends HTMLElement {
  static observedAttributes = ["docked", "api-url", "token", "color-scheme", "site-root", "data-chapter", "data-lesson", "data-page"];

  #options = {};
  #host = null; // the page's own, or null: this document (HostPage)
  #built = null; // {els, host, ownHost, panel, docked} of the panel on screen
  #generation = 0;

  constructor() {
    super();
    // `options` or `host` set before this element was defined is an own property: take it
    // over (without building: connectedCallback does, once).
    const early = (name) => {
      const value = Object.hasOwn(this, name) ? this[name] : null;
      delete this[name];
      return value && typeof value === "object" ? value : null;
    };
    this.#options = early("options") || {};
    this.#host = early("host");
    this.attachShadow({ mode: "open" });
  }

  get options() {
    return this.#options;
  }

  set options(value) {
    this.#options = value && typeof value === "object" ? value : {};
    if (this.isConnected) this.#build();
  }

  /** The page beside the panel, as the chat panel sees it (BookView's interface:
   * `pageContext`, `selection`, `onSelection`, `clearSelection()`, `follow(href)`,
   * `highlight(args)`); null: this document, read with the `pageContext` options. */
  get host() {
    return this.#host;
  }

  set host(value) {
    this.#host = value && typeof value === "object" ? value : null;
    if (this.isConnected) this.#build();
  }

  /** ChatKit's `setOptions`. */
  setOptions(value) {
    this.options = value;
  }

  connectedCallback() {
    if (!this.#built) this.#build();
  }

  disconnectedCallback() {
    if (this.#built?.ownHost) this.#built.host.close();
    this.#built = null;
    this.#generation++;
  }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.#built) return;
    if (name === "color-scheme") {
      const { colorScheme } = resolveOptions(this.#options, this, GATEWAY);
      this.#built.els.frame.classList.toggle("dark", colorScheme === "dark");
      this.#built.els.frame.classList.toggle("light", colorScheme !== "dark");
    } else {
      this.#build();
    }
  }

  /** ChatKit's `focusComposer`. */
  focusComposer() {
    this.open();
    this.#built?.els.question.focus();
  }

  /** ChatKit's `sendUserMessage({ text })`. */
  async sendUserMessage({ text }) {
    if (!this.#built || typeof text !== "string") return;
    this.open();
    this.#built.els.question.value = text.slice(0, 4000);
    await this.#built.panel.ask();
  }

  /** ChatKit's `setThreadId`: a thread to show (null: a new one). */
  async setThreadId(threadId) {
    if (!this.#built) return;
    if (threadId) await this.#built.panel.open(threadId);
    else this.#built.panel.reset();
  }

  open() {
    this.#setOpen(true);
  }

  close() {
    this.#setOpen(false);
  }

  async #build() {
    const generation = ++this.#generation;
    const previous = this.#built;
    if (previous?.ownHost) previous.host.close();
    const options = resolveOptions(this.#options, this, GATEWAY);
    const docked = this.hasAttribute("docked");
    const api = gatewayClient({ ...options.api, credentials: "include" });
    const toc = !this.#host && options.pageContext.toc ? await bookToc(api) : null;
    if (generation !== this.#generation) return; // rebuilt or removed meanwhile
    const els = buildPanel(this.shadowRoot, { styles: STYLES, options, docked });
    const host = this.#host || new HostPage(this, options.pageContext, toc);
    const memory = remembered(options.api.url);
    const panel = new ChatPanel(els, host, {
      api,
      onClientTool: options.onClientTool,
      onTagSearch: options.onTagSearch,
      citationHref: citationLinker(options.citationHref, GATEWAY, options.pageContext.root),
      onThread: (threadId) => {
        memory.save({ thread: threadId });
        this.dispatchEvent(new CustomEvent("chatkit.thread.change", { detail: { threadId }, bubbles: true, composed: true }));
      },
    });
    this.#built = { els, host, ownHost: !this.#host, panel, docked };
    if (!this.#host) host.onLeave = () => memory.save({ open: true }); // a citation to another page: reopen there
    this.#wire(els, panel, options);
    await this.#composerExtras(els, panel, api, options);
    if (generation !== this.#generation) return;
    await els.loaded;
    if (generation !== this.#generation) return;
    els.frame.hidden = false;
    const state = memory.load();
    if (!docked && state.open) this.#setOpen(true, { focus: false }); // carried on from the last page
    const thread = previous?.panel.threadId || state.thread;
    if (thread && options.history) {
      try {
        await panel.open(thread);
      } catch {
        memory.save({ thread: null }); // gone, or someone else's
      }
    }
    this.setAttribute("ready", "");
    this.dispatchEvent(new CustomEvent("chatkit.ready", { bubbles: true, composed: true }));
  }

  /** The attach and microphone buttons the options ask for and the gateway allows. */
  async #composerExtras(els, panel, api, options) {
    if (!options.attachments && !options.dictation) return;
    const on = await features(api);
    const where = { composer: els.composer, question: els.question, actions: els.send.parentElement, before: els.stop };
    if (options.attachments && on.attachments) {
      const limits = allowedAttachments(on.attachments, options.attachments);
      if (limits) panel.attachments = new AttachmentTray(where, api, { strategy: options.uploadStrategy, limits });
    }
    if (options.dictation && on.dictation) new Dictation(where, { maxAudioBytes: on.max_audio_bytes, api });
  }

  #wire(els, panel, options) {
    if (options.accent) els.frame.style.setProperty("--accent", options.accent);
    els.launcher.addEventListener("click", () => this.#setOpen(els.panel.hidden));
    els.close.addEventListener("click", () => this.#setOpen(false));
    els.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !panel.mentions.open && !this.#built?.docked) {
        this.#setOpen(false);
        els.launcher.focus();
      }
    });
    options.prompts.forEach((prompt, i) => {
      els.prompts[i].addEventListener("click", () => {
        els.question.value = prompt.prompt;
        panel.ask();
      });
    });
    const showStart = () => (els.start.hidden = els.messages.childElementCount > 0);
    new MutationObserver(showStart).observe(els.messages, { childList: true });
    showStart();
  }

  #setOpen(open, { focus = true } = {}) {
    const built = this.#built;
    if (!built || built.docked) return;
    built.els.panel.hidden = !open;
    built.els.launcher.setAttribute("aria-expanded", String(open));
    remembered(resolveOptions(this.#options, this, GATEWAY).api.url).save({ open });
    if (open && focus) built.els.question.focus();
  }
}

/** The gateway's attachment limits narrowed by the page's (null: no type left). */
function allowedAttachments(gateway, page) {
  const types = page.accept.length ? gateway.mime_types.filter((t) => page.accept.includes(t)) : gateway.mime_types;
  if (!types.length) return null;
  return {
    mime_types: types,
    max_bytes: Math.min(gateway.max_bytes, page.maxSize ?? Infinity),
    max_per_message: Math.min(gateway.max_per_message, page.maxCount ?? Infinity),
  };
}

/** The gateway's table of contents (for chapter numbers), or null; bounded. */
async function bookToc(api) {
  const toc = await api.json("/api/book");
  if (!Array.isArray(toc?.chapters)) return null;
  const pages = toc.chapters.reduce((n, c) => n + (Array.isArray(c.lessons) ? c.lessons.length : 0), 0);
  return pages <= MAX_TOC_PAGES ? toc : null;
}

/** This tab's memory of the panel (open thread, open or not), per gateway, so that it
 * carries on from page to page of the site. */
function remembered(apiUrl) {
  const key = `book-assistant:${apiUrl}`;
  const load = () => {
    try {
      return JSON.parse(sessionStorage.getItem(key) || "{}") || {};
    } catch {
      return {}; // storage refused or garbled
    }
  };
  return {
    load,
    save(change) {
      try {
        sessionStorage.setItem(key, JSON.stringify({ ...load(), ...change }));
      } catch {
        /* storage refused: the panel just forgets */
      }
    },
  };
}

if (!customElements.get("book-assistant")) customElements.define("book-assistant", BookAssistant);
