// Attachments in the composer, with ChatKit's two upload strategies:
// - `{type: "direct"}`: the file goes in one request to the gateway (`POST /attachments`,
//   multipart), which answers with the ChatKit attachment;
// - `{type: "two_phase"}`: `attachments.create` first (name, size, type), then the bytes to
//   the attachment's `upload_descriptor` (the gateway's `/attachments/{id}/upload`).
// Each uploaded file shows as a chip (a preview for images) that can be removed before the
// message is sent; sent messages carry the attachments' ids.

import { iconButton } from "./icons.js";
import { safeHref } from "./markdown.js";

export class AttachmentTray {
  /** `where`: {actions (the composer's button row), before (the element the attach button
   * goes in front of), composer}; `limits`: {max_bytes, mime_types, max_per_message}. */
  constructor(where, api, { strategy = { type: "direct" }, limits }) {
    this.api = api;
    this.strategy = strategy?.type === "two_phase" ? "two_phase" : "direct";
    this.limits = limits;
    this.uploaded = []; // [{attachment, chip}]
    this.pending = 0;
    this.input = document.createElement("input");
    this.input.type = "file";
    this.input.multiple = true;
    this.input.hidden = true;
    this.input.className = "attach-input";
    this.input.accept = (limits.mime_types || []).join(",");
    this.input.addEventListener("change", () => this.#chosen());
    this.button = iconButton("paperclip", "Attach files", "attach");
    this.button.addEventListener("click", () => this.input.click());
    this.list = document.createElement("ul");
    this.list.className = "attachments";
    this.list.setAttribute("aria-label", "Attached files");
    this.status = document.createElement("span");
    this.status.className = "attach-status";
    this.status.setAttribute("role", "status");
    where.actions.insertBefore(this.button, where.before);
    where.actions.append(this.input);
    where.composer.insertBefore(this.list, where.actions);
    where.composer.insertBefore(this.status, where.actions);
  }

  /** The ids to send with the message (none while an upload is still running). */
  ids() {
    return this.uploaded.map(({ attachment }) => attachment.id);
  }

  get busy() {
    return this.pending > 0;
  }

  /** Forget the chips once their message is sent (the attachments now belong to it). */
  clear() {
    for (const { chip } of this.uploaded) chip.remove();
    this.uploaded = [];
    this.status.textContent = "";
  }

  async #chosen() {
    const files = [...this.input.files];
    this.input.value = "";
    for (const file of files) await this.upload(file);
  }

  /** Upload one file with the configured strategy; refusals are said in the status line. */
  async upload(file) {
    const limits = this.limits;
    if (this.uploaded.length + this.pending >= (limits.max_per_message ?? 10)) {
      return this.#say(`At most ${limits.max_per_message} files go with one message.`);
    }
    if (limits.mime_types?.length && !limits.mime_types.includes(file.type)) {
      return this.#say(`${file.name}: files of type ${file.type || "unknown"} cannot be attached.`);
    }
    if (file.size > limits.max_bytes) {
      return this.#say(`${file.name} is larger than ${Math.floor(limits.max_bytes / 1048576)} MB.`);
    }
    this.pending += 1;
    this.#say(`Uploading ${file.name}…`);
    try {
      const attachment = this.strategy === "two_phase" ? await this.#twoPhase(file) : await this.#direct(file);
      const chip = this.#chip(attachment, file);
      this.uploaded.push({ attachment, chip });
      this.list.append(chip);
      this.#say("");
      return attachment;
    } catch (error) {
      this.#say(`${file.name} could not be attached: ${error.message}`);
      return null;
    } finally {
      this.pending -= 1;
    }
  }

  async #direct(file) {
    const body = new FormData();
    body.append("file", file, file.name);
    const response = await this.api.request("/attachments", { method: "POST", body });
    return answer(response);
  }

  async #twoPhase(file) {
    const created = await this.api.call("attachments.create", {
      name: file.name,
      size: file.size,
      mime_type: file.type,
    });
    const upload = created.upload_descriptor;
    if (!upload?.url) throw new Error("the server gave no upload address");
    const body = new FormData();
    body.append("file", file, file.name);
    const response = await this.api.request(gatewayPath(this.api, upload.url), {
      method: upload.method || "POST",
      headers: upload.headers || {},
      body,
    });
    return answer(response);
  }

  #chip(attachment, file) {
    const chip = document.createElement("li");
    chip.className = "attachment";
    chip.dataset.attachmentId = attachment.id;
    const preview = attachment.type === "image" ? safeHref(attachment.preview_url || "") : null;
    if (preview) {
      const img = document.createElement("img"); // as the gateway serves it back: what was kept
      img.alt = "";
      img.src = preview;
      chip.append(img);
    }
    const name = document.createElement("span");
    name.textContent = attachment.name || file.name;
    const remove = iconButton("x", `Remove ${attachment.name || file.name}`, "remove");
    remove.addEventListener("click", async () => {
      this.uploaded = this.uploaded.filter((entry) => entry.chip !== chip);
      chip.remove();
      try {
        await this.api.call("attachments.delete", { attachment_id: attachment.id });
      } catch {
        // gone from the message either way; an unsent upload is swept by the store later
      }
    });
    chip.append(name, remove);
    return chip;
  }

  #say(text) {
    this.status.textContent = text;
    return null;
  }
}

/** The gateway path of an upload URL it gave out (the client adds its own base). */
function gatewayPath(api, url) {
  const target = new URL(url, location.href);
  const base = new URL(api.base || "/", location.href);
  if (target.origin !== base.origin) throw new Error("the upload address is not the gateway's");
  const prefix = base.pathname.replace(/\/$/, "");
  return target.pathname.slice(prefix.length) + target.search;
}

async function answer(response) {
  if (response.ok) return response.json();
  let message = `HTTP ${response.status}`;
  try {
    message = (await response.json()).error?.message || message;
  } catch {
    // not JSON: the status says it
  }
  throw new Error(message);
}

/** How a sent message shows an attachment: its image, or a chip with its name. */
export function attachmentView(attachment, href) {
  const el = document.createElement(attachment.type === "image" && href ? "a" : "span");
  el.className = "attachment-sent";
  if (attachment.type === "image" && href) {
    el.href = href;
    el.target = "_blank";
    el.rel = "noopener";
    const img = document.createElement("img");
    img.src = href;
    img.alt = attachment.name || "attached image";
    el.append(img);
  } else {
    el.textContent = attachment.name || "attachment";
  }
  return el;
}
