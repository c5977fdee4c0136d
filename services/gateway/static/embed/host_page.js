// The page the embed sits on, seen as the chat panel sees the reader's book (BookView's
// interface): where the reader is (`pageContext`), what they selected on the page (never in
// the panel), following a citation, and highlighting a passage on the page.

import { findText } from "../find_text.js";

const MAX_SELECTION = 4000;
const MAX_LESSON = 200; // shared.contracts.common.MAX_ID_LENGTH
const MAX_PAGE = 1024;
const MAX_CHAPTER = 100_000;
const MAX_PATTERN = 500;
const HIGHLIGHT = "book-assistant-passage";
const NUMBERED = /^(\d+)(?:[-_ ](.*))?$/; // shared.book_format.numbered: `03-setup` -> 3, "setup"

export class HostPage {
  /** `element`: the embed (its own text is never the selection); `rules`: the resolved
   * `pageContext` options; `toc`: the gateway's table of contents, or null. */
  constructor(element, rules, toc) {
    this.element = element;
    this.rules = rules;
    this.toc = toc;
    this.selection = "";
    this.onSelection = () => {};
    this.onLeave = () => {};
    this.listener = () => this.#captureSelection();
    document.addEventListener("selectionchange", this.listener);
  }

  close() {
    document.removeEventListener("selectionchange", this.listener);
  }

  /** Where the reader is, as the chat service's `page_context` (unknown parts left out). */
  get pageContext() {
    return pageContextOf(location, this.rules, this.toc);
  }

  clearSelection() {
    this.selection = "";
    this.onSelection("");
  }

  /** Follow a citation: an anchor on this page scrolls there, another page of this site
   * opens in its place (the panel reopens there); false for other sites. */
  async follow(href) {
    const url = new URL(href, location.href);
    if (url.origin !== location.origin) return false;
    if (samePage(url, location)) {
      if (url.hash) location.hash = url.hash;
      const target = anchorElement(url);
      if (target) flash(target);
      return true;
    }
    this.onLeave();
    location.assign(url.href);
    return true;
  }

  /** The `highlight_passage` client tool: scroll to and highlight the passage when it is on
   * this page (by its text inside its anchor's section, else the anchor itself). */
  async highlight({ url, document_id: documentId, text }) {
    const target = typeof url === "string" && url ? new URL(url, location.href) : null;
    const here = this.pageContext.current_page;
    const onThisPage = target ? samePage(target, location) : Boolean(documentId) && documentId === here;
    if (!onThisPage) return { highlighted: false, reason: "the passage is on another page", url };
    const anchor = target && anchorElement(target);
    const range = typeof text === "string" ? findText(anchor || document.body, text.slice(0, 500)) : null;
    if (range && !this.element.contains(range.commonAncestorContainer)) {
      markRange(range);
      (range.startContainer.parentElement || anchor)?.scrollIntoView({ block: "center" });
      return { highlighted: true, page: here };
    }
    if (anchor) {
      anchor.scrollIntoView({ block: "start" });
      flash(anchor);
      return { highlighted: true, page: here, anchor: anchor.id };
    }
    return { highlighted: false, page: here, reason: "passage not found on the page" };
  }

  #captureSelection() {
    const selection = document.getSelection();
    if (!selection || selection.isCollapsed) return; // keep the last one until it is used
    // A selection in the panel (its shadow root is retargeted to the element) is not the page's.
    if (this.#inPanel(selection.anchorNode) || this.#inPanel(selection.focusNode)) return;
    const text = selection.toString().replace(/\s+/g, " ").trim().slice(0, MAX_SELECTION);
    if (text && text !== this.selection) {
      this.selection = text;
      this.onSelection(text);
    }
  }

  #inPanel(node) {
    return !node || node === this.element || this.element.contains(node) || node.getRootNode?.() === this.element.shadowRoot;
  }
}

/** The page context of `where` (a Location or URL): explicit values win, then the first
 * rule whose `match` fits the path, then the path itself under `root` (a numbered
 * `NN-chapter/NN-lesson`, or a site's top-level folder as chapter and file stem as lesson,
 * numbered as the gateway's table of contents numbers them). */
export function pageContextOf(where, rules, toc) {
  const path = where.pathname;
  let found = {};
  for (const rule of rules.rules) {
    const groups = matchRule(rule, path);
    if (groups) {
      found = {
        chapter: expand(rule.chapter, groups),
        lesson: expand(rule.lesson, groups),
        page: expand(rule.page, groups),
      };
      break;
    }
  }
  const page = clip(rules.page ?? found.page ?? pageOfPath(path, rules.root), MAX_PAGE);
  const listed = page && toc ? lessonOf(toc, page) : null;
  const folder = page?.includes("/") ? page.split("/")[0] : null;
  const chapter = chapterNumber(rules.chapter ?? found.chapter ?? listed?.chapter ?? folder, toc);
  const lesson = clip(rules.lesson ?? found.lesson ?? listed?.lesson ?? lessonOfPath(page), MAX_LESSON);
  const context = {};
  if (chapter !== null) context.current_chapter = chapter;
  if (lesson) context.current_lesson = lesson;
  if (page) context.current_page = page;
  return context;
}

/** A page's lesson as retrieval names it (shared/book_format.py): its path below its
 * chapter's folder (the nearest numbered one, else the top one) without numbers; an
 * `index` page its folder's. */
function lessonOfPath(page) {
  if (!page) return null;
  const folders = page.split("/");
  const stem = nameOf(folders.pop());
  const numberedAt = folders.map((f) => numbered(f)[0] !== null).lastIndexOf(true);
  const top = Math.max(numberedAt, 0);
  const below = folders.slice(top + 1).map(nameOf);
  if (stem !== "index") return [...below, stem].join("/");
  if (below.length) return below.join("/");
  return folders.length ? nameOf(folders[top]) : stem;
}

const nameOf = (part) => numbered(part)[1] || part;

/** The document id of a path under `root`: `/docs/faq/install.html` -> `faq/install`. */
export function pageOfPath(path, root = "/") {
  const base = root.endsWith("/") ? root : `${root}/`;
  if (!path.startsWith(base)) return null;
  let rest;
  try {
    rest = path.slice(base.length).split("/").map(decodeURIComponent).join("/");
  } catch {
    return null; // a malformed escape
  }
  if (rest === "" || rest.endsWith("/")) rest += "index";
  return rest.replace(/\.(html?|md)$/i, "") || null;
}

function matchRule(rule, path) {
  const source = rule?.match instanceof RegExp ? rule.match.source : rule?.match;
  if (typeof source !== "string" || source.length > MAX_PATTERN) return null;
  let match;
  try {
    match = new RegExp(source, rule.match instanceof RegExp ? rule.match.flags : "").exec(path);
  } catch {
    console.warn("book-assistant: a pageContext rule is not a valid regular expression", source);
    return null;
  }
  return match ? { numbered: [...match], named: match.groups || {} } : null;
}

/** A rule's value: `$1`, `$<name>` filled in from the match; a number as is. */
function expand(template, groups) {
  if (typeof template === "number") return template;
  if (typeof template !== "string") return undefined;
  return template.replace(/\$(\d+)|\$<([A-Za-z_]\w*)>/g, (_, n, name) =>
    (n !== undefined ? groups.numbered[Number(n)] : groups.named[name]) ?? "",
  );
}

function lessonOf(toc, page) {
  for (const chapter of toc.chapters || []) {
    const lesson = (chapter.lessons || []).find((l) => l.page === page);
    if (lesson) return lesson;
  }
  return null;
}

/** A chapter as the contract wants it (a number): a number, `NN-name`, or a folder the
 * table of contents numbers; null when unknown. */
function chapterNumber(value, toc) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= MAX_CHAPTER ? value : null;
  const text = String(value);
  const [number] = numbered(text);
  if (number !== null) return number <= MAX_CHAPTER ? number : null;
  const chapter = toc?.chapters?.find((c) => c.slug === text);
  return typeof chapter?.chapter === "number" ? chapter.chapter : null;
}

function numbered(name) {
  const match = NUMBERED.exec(name);
  return match ? [Number(match[1]), match[2] || ""] : [null, name];
}

function clip(value, limit) {
  return typeof value === "string" && value ? value.slice(0, limit) : null;
}

/** Same page, whatever the fragment (`/faq/` and `/faq/index.html` too). */
function samePage(url, where) {
  const norm = (p) => p.replace(/\/index\.html?$/i, "/");
  return url.origin === where.origin && norm(url.pathname) === norm(where.pathname);
}

function anchorElement(url) {
  if (!url.hash) return null;
  try {
    return document.getElementById(decodeURIComponent(url.hash.slice(1)));
  } catch {
    return null;
  }
}

/** Highlight `range` with the CSS Custom Highlight API: the page's DOM is left as it is; the
 * one rule it needs is a constructed sheet (no inline style, so a strict CSP allows it). */
function markRange(range) {
  if (!globalThis.CSS?.highlights) return;
  if (!markRange.sheet) {
    markRange.sheet = new CSSStyleSheet();
    markRange.sheet.replaceSync(`::highlight(${HIGHLIGHT}) { background-color: #fff1a8; }`);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, markRange.sheet];
  }
  CSS.highlights.set(HIGHLIGHT, new Highlight(range));
}

function flash(element) {
  element.animate?.([{ backgroundColor: "#fff1a8" }, { backgroundColor: "transparent" }], { duration: 2000 });
}
