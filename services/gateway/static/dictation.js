// Dictation: a microphone button in the composer, there only when the gateway says the chat
// service transcribes (GET /api/features). A press records (MediaRecorder), a second press
// stops; the recording goes out as a native `input.transcribe` request and the text lands in
// the question box, to be read and sent by the reader (never sent on its own).

import { ApiError, gatewayClient } from "./api.js";
import { icon } from "./icons.js";

const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
/** What the chat service reads (transcription.py's CONTAINERS), best first. */
const BITS_PER_SECOND = 32000;
/** Speech needs little: about 4 KB a second, so minutes fit in the gateway's limit. */
const CHUNK_MS = 1000;

/** The gateway's optional features (`api`: its client); none when it cannot say. */
export async function features(api = gatewayClient()) {
  return (await api.json("/api/features")) || { dictation: false };
}

function recordingType() {
  if (typeof MediaRecorder === "undefined") return null;
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || null;
}

function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export class Dictation {
  /** `question`: the composer's textarea; `actions`: where the button goes, before `before`;
   * `api`: the gateway's client (this page's own by default). */
  constructor({ question, actions, before }, { maxAudioBytes, api = gatewayClient() }) {
    this.api = api;
    this.question = question;
    this.maxBytes = maxAudioBytes;
    this.recorder = null;
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.id = "dictate";
    this.button.className = "dictate";
    this.button.append(icon("mic") || document.createTextNode("Mic"));
    this.notice = document.createElement("span");
    this.notice.id = "dictation-status";
    this.notice.className = "dictation-status muted";
    this.notice.setAttribute("role", "status");
    this.#label(false);
    this.button.addEventListener("click", () => this.toggle());
    actions.insertBefore(this.notice, before);
    actions.insertBefore(this.button, before);
  }

  get recording() {
    return this.recorder !== null && this.recorder.state === "recording";
  }

  toggle() {
    if (this.recording) this.recorder.stop();
    else if (!this.button.disabled) this.start();
  }

  async start() {
    const type = recordingType();
    if (!type || !navigator.mediaDevices?.getUserMedia) {
      this.#say("This browser cannot record audio.", true);
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      this.#say(`The microphone is not available (${error.name || error}).`, true);
      return;
    }
    const chunks = [];
    let bytes = 0;
    const recorder = new MediaRecorder(stream, {
      mimeType: type,
      audioBitsPerSecond: BITS_PER_SECOND,
    });
    recorder.addEventListener("dataavailable", (event) => {
      if (!event.data.size) return;
      chunks.push(event.data);
      bytes += event.data.size;
      if (recorder.state === "recording") this.#listening(chunks.length * CHUNK_MS);
      // base64 and the request around it must fit too: stop with room to spare
      if (bytes > this.maxBytes * 0.9 && recorder.state === "recording") {
        recorder.stop();
        this.#say("The recording reached its length limit.");
      }
    });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      this.recorder = null;
      this.#label(false);
      this.#send(new Blob(chunks, { type: recorder.mimeType || type }));
    });
    this.recorder = recorder;
    recorder.start(CHUNK_MS);
    this.#label(true);
    this.#listening(0);
  }

  #listening(ms) {
    const seconds = Math.floor(ms / 1000);
    const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    this.#say(`Listening ${clock} (press the microphone again to stop)`);
  }

  async #send(blob) {
    if (!blob.size) {
      this.#say("Nothing was recorded.", true);
      return;
    }
    this.button.disabled = true;
    this.#say("Transcribing…");
    try {
      const audio = await base64Of(blob);
      const result = await this.api.call("input.transcribe", {
        audio_base64: audio,
        mime_type: blob.type,
      });
      this.#insert(result.text || "");
      this.#say(result.text ? "" : "No speech was heard.");
    } catch (error) {
      this.#say(error instanceof ApiError ? error.friendly : `Dictation failed (${error}).`, true);
    } finally {
      this.button.disabled = false;
    }
  }

  #insert(text) {
    if (!text) return;
    const box = this.question;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? start;
    const before = box.value.slice(0, start);
    const spaced = before && !/\s$/.test(before) ? ` ${text}` : text;
    box.setRangeText(spaced, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.focus();
  }

  #label(recording) {
    const label = recording ? "Stop dictation" : "Dictate a question";
    this.button.title = label;
    this.button.setAttribute("aria-label", label);
    this.button.setAttribute("aria-pressed", String(recording));
    this.button.classList.toggle("recording", recording);
  }

  #say(text, isError = false) {
    this.notice.textContent = text;
    this.notice.classList.toggle("error", isError);
  }
}
