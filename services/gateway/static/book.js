// The book pane: table of contents, lessons (rendered and sanitised by the retrieval service,
// relayed by the gateway), navigation that keeps `page_context` in step with the reader,
// selections, and passage highlighting.

import { findText } from "./find_text.js";

const MAX_SELECTION = 4000;
// The gateway's rule for a page id (PAGE_ID in services/gateway/book.py; a test keeps them equal).
const PAGE_ID = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
// The web client's one HTML sink takes lessons from the gateway, through this policy
// (its CSP allows no other: `require-trusted-types-for 'script'; trusted-types book`).
const lessonHtml = window.trustedTypes?.createPolicy("book", { createHTML: (html) => html }) ?? {
  createHTML: (html) => html,
};

export class BookView {
  constructor({ toc, article, prev, next, where }) {
    this.tocEl = toc;
    this.article = article;
    this.prevEl = prev;
    this.nextEl = next;
    this.whereEl = where;
    this.current = null; // BookLesson of the open page
    this.selection = "";
    this.onSelection = () => {};
    document.addEventListener("selectionchange", () => this.#captureSelection());
    window.addEventListener("popstate", () => this.open(pageFromPath(location.pathname), {
      push: false,
      anchor: location.hash.slice(1),
    }));
    for (const link of [prev, next]) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        if (link.dataset.page) this.open(link.dataset.page);
      });
    }
  }

  /** Where the reader is, as the chat service's `page_context`. */
  get pageContext() {
    if (!this.current) return {};
    return {
      current_chapter: this.current.chapter,
      current_lesson: this.current.lesson,
      current_page: this.current.page,
    };
  }

  async start() {
    const toc = await bookJson("/api/book");
    if (!toc) throw new Error("the table of contents did not load");
    this.pages = toc.chapters.flatMap((c) => c.lessons.map((l) => l.page));
    this.tocEl.replaceChildren(...toc.chapters.map((chapter) => {
      const section = document.createElement("section");
      const title = document.createElement("h3");
      title.textContent = `${chapter.chapter ?? ""} ${chapter.title}`.trim();
      const list = document.createElement("ol");
      for (const lesson of chapter.lessons) {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `/book/${lesson.page}`;
        link.textContent = lesson.title;
        link.dataset.page = lesson.page;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          this.open(lesson.page);
        });
        item.append(link);
        list.append(item);
      }
      section.append(title, list);
      return section;
    }));
    const first = pageFromPath(location.pathname) || this.pages[0];
    if (first) await this.open(first, { push: false, anchor: location.hash.slice(1) });
  }

  /** Open a lesson by document id (one of the table of contents); optionally scroll to an
   * anchor. False if there is no such lesson. */
  async open(page, { push = true, anchor = "" } = {}) {
    page = pageId(page);
    if (!page || !this.pages?.includes(page)) return false;
    if (this.current?.page !== page) {
      const data = await bookJson(`/api/book/${page.split("/").map(encodeURIComponent).join("/")}`);
      if (data?.lesson?.page !== page || typeof data.html !== "string") return false;
      this.current = data.lesson;
      // Rendered from the ingested page and sanitised by the retrieval service.
      this.article.innerHTML = lessonHtml.createHTML(data.html);
      this.article.dataset.page = page;
      this.#pager(this.prevEl, data.previous, "← ");
      this.#pager(this.nextEl, data.next, "");
      for (const link of this.tocEl.querySelectorAll("a")) {
        link.classList.toggle("active", link.dataset.page === page);
      }
      this.whereEl.textContent = `Chapter ${this.current.chapter ?? "?"} · ${this.current.title}`;
      document.title = `${this.current.title} — Book assistant`;
    }
    const url = `/book/${page}${anchor ? `#${anchor}` : ""}`;
    if (push && location.pathname + location.hash !== url) history.pushState({}, "", url);
    if (anchor) {
      const target = document.getElementById(anchor);
      if (target) {
        target.scrollIntoView({ block: "start" });
        flash(target);
      }
    } else {
      this.article.parentElement.scrollTop = 0;
    }
    return true;
  }

  /** Follow a citation link (`/book/<page>#<anchor>`); false if it is not a book link. */
  async follow(href) {
    const url = new URL(href, location.href);
    const page = url.origin === location.origin ? pageFromPath(url.pathname) : null;
    if (!page) return false;
    return this.open(page, { anchor: decodeURIComponent(url.hash.slice(1)) });
  }

  /** Scroll to and highlight a passage: by its text, else by the anchor of its URL. */
  async highlight({ url, document_id: documentId, text }) {
    let target = url ? new URL(url, location.href) : null;
    if (target?.origin !== location.origin) target = null;
    const page = documentId || (target && pageFromPath(target.pathname));
    if (!page || !(await this.open(page))) return { highlighted: false, reason: "page not found" };
    for (const old of this.article.querySelectorAll("mark.passage")) old.replaceWith(...old.childNodes);
    this.article.normalize();
    const range = text ? findText(this.article, text) : null;
    if (range) {
      const marks = markRange(range);
      marks[0].scrollIntoView({ block: "center" });
      return { highlighted: true, page };
    }
    const anchor = target ? decodeURIComponent(target.hash.slice(1)) : "";
    const heading = anchor && document.getElementById(anchor);
    if (heading) {
      heading.scrollIntoView({ block: "start" });
      flash(heading);
      return { highlighted: true, page, anchor };
    }
    return { highlighted: false, page, reason: "passage not found on the page" };
  }

  clearSelection() {
    this.selection = "";
    this.onSelection("");
  }

  #captureSelection() {
    const selection = document.getSelection();
    if (!selection || selection.isCollapsed) return; // keep the last one until it is used
    // Only selections inside the book count; the chat panel's own text is ignored.
    if (!this.article.contains(selection.anchorNode) || !this.article.contains(selection.focusNode)) return;
    const text = selection.toString().replace(/\s+/g, " ").trim().slice(0, MAX_SELECTION);
    if (text && text !== this.selection) {
      this.selection = text;
      this.onSelection(text);
    }
  }

  #pager(link, page, arrow) {
    link.hidden = !page;
    link.dataset.page = page || "";
    if (page) {
      link.href = `/book/${page}`;
      link.textContent = link.id === "prev" ? `${arrow}Previous` : "Next →";
    }
  }
}

/** `value` (a document id, `.md` allowed) if it can name a page of the book, else null. */
function pageId(value) {
  if (typeof value !== "string") return null;
  const page = value.replace(/\.md$/, "");
  return PAGE_ID.test(page) && !page.includes("..") ? page : null;
}

/** The page of a `/book/<folder>/.../<page>` path, or null. Each segment is decoded alone,
 * and one holding an encoded `/` (`%2F`) is refused, so it cannot add a segment. */
function pageFromPath(path) {
  const match = /^\/book\/(.+)$/.exec(path);
  if (!match) return null;
  try {
    const parts = match[1].split("/").map(decodeURIComponent);
    if (parts.some((part) => part.includes("/"))) return null;
    return pageId(parts.join("/"));
  } catch {
    return null; // a malformed escape
  }
}

/** The gateway's JSON answer at `path` (under `/api/book`), or null: anything else, a
 * redirect included, is not a lesson. */
async function bookJson(path) {
  let response;
  try {
    response = await fetch(path, { redirect: "error", headers: { accept: "application/json" } });
  } catch {
    return null;
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || new URL(response.url).pathname !== path || !/^application\/json\b/i.test(type)) {
    return null;
  }
  return response.json();
}

function flash(element) {
  element.classList.remove("flash");
  void element.offsetWidth; // restart the animation
  element.classList.add("flash");
}

/** Wrap the text of `range` in `<mark class="passage">`, one per text node, so a passage
 * running over several paragraphs or list items keeps the page's structure. */
function markRange(range) {
  const walker = document.createTreeWalker(range.commonAncestorContainer, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE && range.intersectsNode(node)) texts.push(node);
  }
  const marks = [];
  for (const node of texts) {
    const start = node === range.startContainer ? range.startOffset : 0;
    const end = node === range.endContainer ? range.endOffset : node.data.length;
    if (!node.data.slice(start, end).trim()) continue; // whitespace between blocks
    const middle = node.splitText(start);
    middle.splitText(end - start);
    const mark = document.createElement("mark");
    mark.className = "passage";
    middle.replaceWith(mark);
    mark.append(middle);
    marks.push(mark);
  }
  return marks;
}
