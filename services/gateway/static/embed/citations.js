// Where a citation links on the host site. Default: the hit's own `url` (the site's page when
// the corpus was ingested with `--site-url`; a relative `/book/...` is the gateway's reader).
// `citations.href` may be a template (`https://docs.example.com/{document_id}.html#{anchor}`,
// with `{url}`, `{path}`, `{document_id}`, `{anchor}`) or a function of (source, parts).

import { pageOfPath } from "./host_page.js";

/** A `citationHref(source)` for the chat panel. `root`: the site's path prefix, for the
 * document id of a site URL. */
export function citationLinker(href, gatewayOrigin, root) {
  return (source) => {
    if (source?.type !== "url" || typeof source.url !== "string") return null;
    let url;
    try {
      url = new URL(source.url, gatewayOrigin);
    } catch {
      return null;
    }
    if (!href) return url.origin === location.origin ? url.pathname + url.search + url.hash : url.href;
    const parts = linkParts(url, gatewayOrigin, root);
    if (typeof href === "function") {
      const made = href(source, parts);
      return typeof made === "string" ? made : null;
    }
    return href.replace(/\{(url|path|document_id|anchor)\}/g, (_, name) =>
      name === "url" ? parts.url : encodeURI(parts[name] || ""),
    );
  };
}

function linkParts(url, gatewayOrigin, root) {
  let documentId = null;
  if (url.origin === new URL(gatewayOrigin).origin && url.pathname.startsWith("/book/")) {
    documentId = pageOfPath(url.pathname, "/book/");
  } else {
    documentId = pageOfPath(url.pathname, root);
  }
  let anchor = "";
  try {
    anchor = decodeURIComponent(url.hash.slice(1));
  } catch {
    /* a malformed escape: no anchor */
  }
  return { url: url.href, path: url.pathname, document_id: documentId, anchor };
}
