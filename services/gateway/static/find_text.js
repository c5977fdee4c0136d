// Finding a passage (Markdown source text) in a rendered page: the reader's book pane and the
// embed's host page both highlight passages with it.

/** Markdown source reduced to the text it renders as (passages come from the source). */
function plain(markdown) {
  return markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/^\s*(#{1,6}|[-*+]|\d+\.)\s+/gm, "")
    .replace(/[`*]/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** A Range over the first occurrence of `needle` in `root`'s text (whitespace-insensitive). */
export function findText(root, needle) {
  const wanted = plain(needle).slice(0, 120).toLowerCase(); // enough to find where it starts
  if (!wanted) return null;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let flat = "";
  const map = []; // flat index -> [node, offset]
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const ch = /\s/.test(node.data[i]) ? " " : node.data[i].toLowerCase();
      if (ch === " " && flat.endsWith(" ")) continue;
      flat += ch;
      map.push([node, i]);
    }
  }
  let at = flat.indexOf(wanted);
  if (at < 0) at = flat.indexOf(wanted.slice(0, 60));
  if (at < 0) return null;
  // Extend over as much of the passage as the page shows in one run, ending on a word.
  const whole = plain(needle).toLowerCase();
  let length = 0;
  while (at + length < flat.length && length < whole.length && flat[at + length] === whole[length]) length++;
  // The passage may be cut mid-word (the tool sends its start): stop at the last whole word.
  if (/\w/.test(flat[at + length] || "") && /\w/.test(flat[at + length - 1])) {
    const space = flat.lastIndexOf(" ", at + length);
    if (space > at) length = space - at;
  }
  const [startNode, startOffset] = map[at];
  const [endNode, endOffset] = map[Math.min(at + length, map.length) - 1];
  const range = document.createRange();
  range.setStart(startNode, startOffset);
  range.setEnd(endNode, endOffset + 1);
  return range;
}
