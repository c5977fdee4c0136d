// Small inline SVG icons (stroke paths on a 24×24 grid). Text and SVG only: headless and
// minimal installs often have no emoji font, and emoji would render as empty boxes.

const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  "book-open": ["M2 4h6a4 4 0 0 1 4 4v13a3 3 0 0 0-3-3H2z", "M22 4h-6a4 4 0 0 0-4 4v13a3 3 0 0 1 3-3h7z"],
  search: ["M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z", "M21 21l-5-5"],
  trash: ["M3 6h18", "M8 6V4h8v2", "M19 6l-1 14H6L5 6", "M10 11v6", "M14 11v6"],
  pencil: ["M16.5 3.5a2.1 2.1 0 0 1 3 3L8 18l-4 1 1-4z"],
  "thumbs-up": [
    "M7 10v11",
    "M15 5.9L14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 7.5A2 2 0 0 1 17.5 21H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h2.8a2 2 0 0 0 1.8-1.1L12 2a3 3 0 0 1 3 3.9z",
  ],
  "thumbs-down": [
    "M17 14V3",
    "M9 18.1L10 14H4.2a2 2 0 0 1-1.9-2.6l2.3-7.5A2 2 0 0 1 6.5 3H20a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-2.8a2 2 0 0 0-1.8 1.1L12 22a3 3 0 0 1-3-3.9z",
  ],
  x: ["M18 6L6 18", "M6 6l12 12"],
  check: ["M5 12l5 5L20 7"],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  paperclip: ["M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7"],
  retry: ["M3 12a9 9 0 1 0 3-6.7", "M3 4v5h5"],
  mic: ["M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z", "M19 11a7 7 0 0 1-14 0", "M12 18v3"],
  info: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M12 11v6", "M12 7.5v.5"],
  "external-link": ["M15 3h6v6", "M10 14L21 3", "M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6"],
};

/** An `<svg>` for a known icon name, or null. Decorative unless given a label. */
export function icon(name, label = "") {
  const paths = PATHS[name];
  if (!paths) return null;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  for (const d of paths) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A button showing an icon, named for screen readers and tooltips. */
export function iconButton(name, label, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.title = label;
  button.setAttribute("aria-label", label);
  button.append(icon(name) || document.createTextNode(label));
  return button;
}
