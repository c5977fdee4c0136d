// Wires the book pane and the chat panel together. No build step: plain ES modules.

import { gatewayClient } from "./api.js";
import { AttachmentTray } from "./attachments.js";
import { BookView } from "./book.js";
import { ChatPanel } from "./chat.js";
import { Dictation, features } from "./dictation.js";

const $ = (id) => document.getElementById(id);

const book = new BookView({
  toc: $("toc"),
  article: $("book"),
  prev: $("prev"),
  next: $("next"),
  where: $("where"),
});

const chat = new ChatPanel(
  {
    composer: $("composer"),
    question: $("question"),
    send: $("send"),
    stop: $("stop"),
    status: $("status"),
    messages: $("messages"),
    progress: $("progress"),
    threads: $("threads"),
    threadsToggle: $("threads-toggle"),
    threadTitle: $("thread-title"),
    newThread: $("new-thread"),
    selection: $("selection"),
    selectionText: $("selection-text"),
    selectionClear: $("selection-clear"),
  },
  book,
  { onThread: (threadId) => remember(threadId) },
);

// The open thread is kept for this tab: a reload reopens it (and an answer still being
// written goes on showing).
const THREAD_KEY = "book-assistant.thread";
function remember(threadId) {
  try {
    if (threadId) sessionStorage.setItem(THREAD_KEY, threadId);
    else sessionStorage.removeItem(THREAD_KEY);
  } catch {
    /* storage refused: nothing is remembered */
  }
}
function reopen() {
  let threadId = null;
  try {
    threadId = sessionStorage.getItem(THREAD_KEY);
  } catch {
    return null;
  }
  return threadId ? chat.open(threadId).catch(() => remember(null)) : null;
}

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

// The microphone only when the chat service transcribes, the attach button when attachments
// are allowed; "ready" once both are known either way.
const dictation = features().then((on) => {
  if (on.attachments) {
    const where = { composer: $("composer"), actions: $("send").parentElement, before: $("stop") };
    chat.attachments = new AttachmentTray(where, gatewayClient(), { limits: on.attachments });
  }
  if (!on.dictation) return null;
  const where = { question: $("question"), actions: $("send").parentElement, before: $("stop") };
  return new Dictation(where, { maxAudioBytes: on.max_audio_bytes });
});
Promise.all([book.start(), dictation, reopen()]).then(() => document.body.classList.add("ready"));
window.bookAssistant = { book, chat }; // handy in the console
