// The bundled reader page: the book pane beside the embed's <book-assistant>, docked, with
// the book as the page it reads from (page context, selections, highlights, citations).
// No build step: plain ES modules.

import { BookView } from "./book.js";
import "./embed/element.js";

const $ = (id) => document.getElementById(id);

const book = new BookView({
  toc: $("toc"),
  article: $("book"),
  prev: $("prev"),
  next: $("next"),
  where: $("where"),
});

const assistant = document.createElement("book-assistant");
assistant.host = book;
assistant.options = {
  // Each on as far as the gateway's `/api/features` allows.
  composer: {
    placeholder: "Ask about this page… (select text in the book to ask about it)",
    attachments: { enabled: true },
    dictation: { enabled: true },
  },
  startScreen: { greeting: "Ask about the page you are reading, or select text in it first." },
};
assistant.setAttribute("docked", "");
const dark = matchMedia("(prefers-color-scheme: dark)");
const scheme = () => {
  document.documentElement.classList.toggle("dark", dark.matches);
  assistant.setAttribute("color-scheme", dark.matches ? "dark" : "light");
};
dark.addEventListener("change", scheme);
scheme();
const ready = new Promise((done) => assistant.addEventListener("chatkit.ready", done, { once: true }));
$("chat").append(assistant);

// Links inside the book to other lessons stay in the page.
$("book").addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link) return;
  const url = new URL(link.href, location.href);
  if (url.origin === location.origin && url.pathname.startsWith("/book/")) {
    event.preventDefault();
    book.follow(url.href);
  }
});

Promise.all([book.start(), ready]).then(() => document.body.classList.add("ready"));
window.bookAssistant = { book, assistant }; // handy in the console
