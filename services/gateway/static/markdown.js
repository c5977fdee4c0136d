// A deliberately small, safe Markdown subset for chat text: `code`, **bold**, *emphasis*,
// [links](url) and line breaks. DOM nodes only (never innerHTML), so model output cannot
// inject markup.

const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\*([^*\s][^*\n]*)\*|\[([^\]\n]+)\]\(([^)\s]+)\)/g;

/** Append `text` to `parent`, rendering the inline Markdown subset. */
export function appendMarkdown(parent, text) {
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (i) parent.append(document.createElement("br"));
    appendLine(parent, line);
  });
}

function appendLine(parent, line) {
  let cursor = 0;
  for (const match of line.matchAll(INLINE)) {
    if (match.index > cursor) parent.append(line.slice(cursor, match.index));
    const [, code, bold, em, label, href] = match;
    let el;
    if (code !== undefined) {
      el = document.createElement("code");
      el.textContent = code;
    } else if (bold !== undefined) {
      el = document.createElement("strong");
      el.textContent = bold;
    } else if (em !== undefined) {
      el = document.createElement("em");
      el.textContent = em;
    } else if (safeHref(href)) {
      el = document.createElement("a");
      el.href = href;
      el.textContent = label;
    } else {
      el = document.createTextNode(label);
    }
    parent.append(el);
    cursor = match.index + match[0].length;
  }
  if (cursor < line.length) parent.append(line.slice(cursor));
}

/**
 * `href` if it is an http(s) URL or a path on this site, else null. Relative forms are
 * judged by where they resolve: `//host` and `/\host` are other sites.
 */
export function safeHref(href) {
  if (typeof href !== "string") return null;
  let url;
  try {
    url = new URL(href, location.href);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (!/^https?:\/\//i.test(href) && url.origin !== location.origin) return null;
  return href;
}

/** Markdown reduced to plain text (for places that show text only). */
export function plainText(markdown) {
  return markdown.replace(INLINE, (_, code, bold, em, label) => code ?? bold ?? em ?? label);
}
