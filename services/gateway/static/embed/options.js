// The embed's options, named and shaped like @openai/chatkit's `ChatKitOptions` where the
// concept is the same, merged with the element's attributes (which win) and bounded.
//
//   api: { url, fetch, token, uploadStrategy: { type: "direct" | "two_phase" },
//          domainKey (accepted, unused) }                      theme: { colorScheme, color: { accent } }
//   startScreen: { greeting, prompts: [{ label, prompt }] }    composer: { placeholder,
//     attachments: { enabled, maxCount, maxSize, accept }, dictation: { enabled } }
//   header: { enabled, title: { text } }                      history: { enabled }
//   onClientTool({ name, params })                             entities: { onTagSearch(query) }
// and the embed's own: `pageContext` (rules, root, explicit chapter/lesson/page) and
// `citations.href` (a template or function for a citation's link).

const MAX_TEXT = 500;
const MAX_PROMPTS = 8;
const MAX_RULES = 50;

const text = (value, fallback = "") =>
  typeof value === "string" && value.trim() ? value.trim().slice(0, MAX_TEXT) : fallback;

/** The options the panel runs with: `options` (the element's property) and its attributes. */
export function resolveOptions(options, element, gatewayOrigin) {
  const o = options && typeof options === "object" ? options : {};
  const api = o.api || {};
  const attr = (name) => element.getAttribute(name);
  const theme = o.theme || {};
  const accent = theme.color?.accent;
  const start = o.startScreen || {};
  const page = o.pageContext || {};
  return {
    api: {
      url: text(attr("api-url")) || text(api.url) || new URL("/chatkit", gatewayOrigin).href,
      fetch: typeof api.fetch === "function" ? api.fetch : undefined,
      token: attr("token") || (typeof api.token === "function" ? api.token : text(api.token)) || undefined,
    },
    colorScheme: (attr("color-scheme") || theme.colorScheme) === "dark" ? "dark" : "light",
    accent: color(typeof accent === "string" ? accent : accent?.primary),
    greeting: text(start.greeting, "Ask about this page."),
    prompts: (Array.isArray(start.prompts) ? start.prompts : [])
      .slice(0, MAX_PROMPTS)
      .map((p) => ({ label: text(p?.label, text(p?.prompt)), prompt: text(p?.prompt, text(p?.label)) }))
      .filter((p) => p.prompt),
    placeholder: text(o.composer?.placeholder, "Ask about this page… (select text on it to ask about that)"),
    // Off unless asked for, as in @openai/chatkit; and only as far as the gateway allows.
    attachments: attachmentOptions(o.composer?.attachments),
    uploadStrategy: { type: api.uploadStrategy?.type === "two_phase" ? "two_phase" : "direct" },
    dictation: o.composer?.dictation?.enabled === true,
    header: o.header?.enabled !== false,
    title: text(o.header?.title?.text, "Assistant"),
    history: o.history?.enabled !== false,
    onClientTool: typeof o.onClientTool === "function" ? o.onClientTool : undefined,
    onTagSearch: typeof o.entities?.onTagSearch === "function" ? o.entities.onTagSearch : undefined,
    citationHref: typeof o.citations?.href === "function" || typeof o.citations?.href === "string"
      ? o.citations.href
      : undefined,
    pageContext: {
      rules: (Array.isArray(page.rules) ? page.rules : []).slice(0, MAX_RULES),
      root: text(attr("site-root")) || text(page.root, "/"),
      chapter: attr("data-chapter") ?? page.chapter,
      lesson: attr("data-lesson") ?? page.lesson,
      page: attr("data-page") ?? page.page,
      toc: page.toc !== false,
    },
  };
}

/** `composer.attachments` as the tray takes it, or null when off. `accept` is ChatKit's
 * `{ "image/png": [".png"] }` (or a list of MIME types). */
function attachmentOptions(value) {
  if (value?.enabled !== true) return null;
  const accept = Array.isArray(value.accept) ? value.accept : Object.keys(value.accept || {});
  const count = Number.isInteger(value.maxCount) && value.maxCount > 0 ? value.maxCount : null;
  const size = Number.isFinite(value.maxSize) && value.maxSize > 0 ? value.maxSize : null;
  return { accept: accept.filter((t) => typeof t === "string").slice(0, 50), maxCount: count, maxSize: size };
}

/** A CSS color the page gave, or null (anything else is ignored, never injected). */
function color(value) {
  return typeof value === "string" && value.length <= 64 && CSS.supports("color", value) ? value : null;
}
