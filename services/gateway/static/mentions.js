// @-mentions in the composer: typing "@" and a few letters lists the book's chapters and pages
// (GET /api/entities, the gateway's relay of the retrieval service's entity search); picking one
// writes "@Title" into the text and sends it as a ChatKit `input_tag` with the entity's id.
// Keyboard: ArrowUp/ArrowDown move, Enter or Tab pick, Escape closes.

const TRIGGER = /(^|\s)@([^\s@]{0,40})$/;
const LIMIT = 8;
const DELAY_MS = 120;

let nextId = 0;

export class MentionPicker {
  /** `search(query)`: entities for a query (ChatKit's `entities.onTagSearch`); default the
   * gateway of this page. */
  constructor(textarea, anchor, search = null) {
    this.textarea = textarea;
    this.lookup = search;
    this.picked = []; // {id, title} chosen since the last send
    this.entities = [];
    this.active = -1;
    this.timer = null;
    this.controller = null;
    this.list = document.createElement("ul");
    this.list.id = `mentions-${nextId++}`;
    this.list.className = "mentions";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Chapters and pages to mention");
    this.list.hidden = true;
    anchor.append(this.list);
    textarea.setAttribute("aria-autocomplete", "list");
    // A textarea may take no combobox role (so no aria-expanded): it names the list it
    // controls and the option in focus, which screen readers announce.
    textarea.setAttribute("aria-controls", this.list.id);
    textarea.addEventListener("input", () => this.#changed());
    textarea.addEventListener("keydown", (event) => this.#key(event));
    textarea.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.#choose(Number(option.dataset.index));
    });
  }

  get open() {
    return !this.list.hidden;
  }

  close() {
    this.list.hidden = true;
    this.entities = [];
    this.active = -1;
    this.textarea.removeAttribute("aria-activedescendant");
  }

  /** ChatKit content parts for `text`: each picked "@Title" still in it becomes an input_tag. */
  content(text) {
    const picks = [...this.picked].sort((a, b) => b.title.length - a.title.length);
    const parts = [];
    let rest = text;
    while (rest) {
      let best = null;
      for (const pick of picks) {
        const at = rest.indexOf(`@${pick.title}`);
        if (at >= 0 && (best === null || at < best.at)) best = { at, pick };
      }
      if (best === null) {
        parts.push({ type: "input_text", text: rest });
        break;
      }
      if (best.at > 0) parts.push({ type: "input_text", text: rest.slice(0, best.at) });
      parts.push({
        type: "input_tag",
        id: best.pick.id,
        text: best.pick.title,
        data: {},
        group: best.pick.group,
        interactive: false,
      });
      rest = rest.slice(best.at + best.pick.title.length + 1);
    }
    this.picked = [];
    return parts;
  }

  #query() {
    const before = this.textarea.value.slice(0, this.textarea.selectionStart);
    const match = TRIGGER.exec(before);
    return match ? match[2] : null;
  }

  #changed() {
    clearTimeout(this.timer);
    const query = this.#query();
    if (query === null) {
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.#search(query), DELAY_MS);
  }

  async #search(query) {
    this.controller?.abort();
    this.controller = new AbortController();
    let entities = [];
    try {
      if (this.lookup) {
        entities = (await this.lookup(query)) || [];
        if (this.#query() === query) this.#show(entities.slice(0, LIMIT));
        return;
      }
      const params = new URLSearchParams({ q: query, limit: String(LIMIT) });
      const response = await fetch(`/api/entities?${params}`, {
        credentials: "same-origin",
        signal: this.controller.signal,
      });
      if (!response.ok) return this.close();
      entities = (await response.json()).entities || [];
    } catch (error) {
      if (error.name !== "AbortError") this.close();
      return;
    }
    if (this.#query() !== query) return; // typed on meanwhile
    this.#show(entities);
  }

  #show(entities) {
    this.entities = entities;
    this.active = entities.length ? 0 : -1;
    const options = entities.map((entity, index) => {
      const option = document.createElement("li");
      option.id = `${this.list.id}-${index}`;
      option.setAttribute("role", "option");
      option.dataset.index = String(index);
      const title = document.createElement("span");
      title.textContent = entity.title;
      const group = document.createElement("span");
      group.className = "muted";
      group.textContent = entity.group === "Chapters" ? " chapter" : " page";
      option.append(title, group);
      return option;
    });
    if (!options.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "No chapter or page by that name";
      options.push(empty);
    }
    this.list.replaceChildren(...options);
    this.list.hidden = false;
    this.#highlight();
  }

  #highlight() {
    for (const option of this.list.querySelectorAll("[role=option]")) {
      option.setAttribute("aria-selected", String(Number(option.dataset.index) === this.active));
    }
    if (this.active >= 0) {
      this.textarea.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
    } else {
      this.textarea.removeAttribute("aria-activedescendant");
    }
  }

  #key(event) {
    if (!this.open) return;
    const count = this.entities.length;
    if (event.key === "Escape") {
      this.close();
    } else if (event.key === "ArrowDown" && count) {
      this.active = (this.active + 1) % count;
      this.#highlight();
    } else if (event.key === "ArrowUp" && count) {
      this.active = (this.active - 1 + count) % count;
      this.#highlight();
    } else if ((event.key === "Enter" || event.key === "Tab") && this.active >= 0) {
      this.#choose(this.active);
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // the composer must not send on this Enter
  }

  #choose(index) {
    const entity = this.entities[index];
    if (!entity) return;
    const caret = this.textarea.selectionStart;
    const before = this.textarea.value.slice(0, caret);
    const match = TRIGGER.exec(before);
    if (!match) return this.close();
    const start = caret - match[2].length - 1;
    const insert = `@${entity.title} `;
    this.textarea.value = this.textarea.value.slice(0, start) + insert + this.textarea.value.slice(caret);
    this.textarea.selectionStart = this.textarea.selectionEnd = start + insert.length;
    if (!this.picked.some((p) => p.id === entity.id)) {
      this.picked.push({ id: entity.id, title: entity.title, group: entity.group });
    }
    this.close();
    this.textarea.focus();
  }
}
