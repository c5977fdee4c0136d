"""Thread items -> model input, for the book assistant."""

from __future__ import annotations

import json
from collections.abc import Mapping

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    HiddenContextItem,
    ImageAttachment,
    StructuredInputItem,
    UserMessageTagContent,
    WidgetItem,
)
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseInputContentParam,
    ResponseInputTextParam,
)
from openai.types.responses.response_input_item_param import FunctionCallOutput, Message

from services.chat.mentions import Mention
from services.chat.tutor import CHAPTER_INPUT


class BookThreadItemConverter(ThreadItemConverter):
    """The SDK's converter, completed for what this service stores.

    - attachments: images by URL, other files named (their bytes are not ours to read);
    - tags: a mention resolved for this message as its title and passages
      (`services.chat.mentions`), any other as the text the reader saw;
    - hidden context of any JSON shape;
    - assistant messages as plain text (the SDK's `output_text` parts are refused by the
      Chat Completions converter);
    - widgets: their copy text instead of the full widget JSON;
    - the tutor's "which chapter?" (a structured input) answered as the reader's words
      ("Quiz me on <chapter>.", or on the whole book when skipped), so the next turn
      reads as a quiz request;
    - client tool calls: with `outputs_only`, just the output, for a follow-up that
      continues a stored response (`previous_response_id`) which already holds the call.
    """

    def __init__(
        self, *, outputs_only: bool = False, mentions: Mapping[str, Mention] | None = None
    ) -> None:
        self.outputs_only = outputs_only
        self.mentions = mentions or {}

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        if isinstance(attachment, ImageAttachment):
            return {
                "type": "input_image",
                "detail": "auto",
                "image_url": str(attachment.preview_url),
            }
        return ResponseInputTextParam(
            type="input_text",
            text=f"[The reader attached a file: {attachment.name} ({attachment.mime_type}); "
            "its contents are not available to you.]",
        )

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        mention = self.mentions.get(tag.id)
        # Only a resolved mention says more than the reader typed: a tag's data is the
        # client's, and an earlier message's mention was answered already.
        text = mention.describe() if mention is not None else f"@{tag.text}"
        return ResponseInputTextParam(type="input_text", text=text)

    async def structured_input_to_input(
        self, item: StructuredInputItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        asked = [q for q in item.inputs if q.id == CHAPTER_INPUT]
        if not asked or item.status == "pending":
            return await super().structured_input_to_input(item)
        answer = asked[0].answer
        # Skipped: no chapter in particular, so the whole book.
        chapter = answer.values[0][:200] if answer and answer.values else "the whole book"
        return EasyInputMessageParam(role="user", content=f"Quiz me on {chapter}.")

    async def hidden_context_to_input(
        self, item: HiddenContextItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        content = (
            item.content
            if isinstance(item.content, str)
            else json.dumps(item.content, ensure_ascii=False, default=str)
        )
        return Message(
            type="message",
            role="user",
            content=[
                ResponseInputTextParam(
                    type="input_text",
                    text=f"Hidden context (not shown to the reader):\n<HiddenContext>\n"
                    f"{content}\n</HiddenContext>",
                )
            ],
        )

    async def assistant_message_to_input(
        self, item: AssistantMessageItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        text = "".join(part.text for part in item.content)
        return EasyInputMessageParam(type="message", role="assistant", content=text)

    async def widget_to_input(
        self, item: WidgetItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        if not item.copy_text:
            return await super().widget_to_input(item)
        return Message(
            type="message",
            role="user",
            content=[
                ResponseInputTextParam(
                    type="input_text",
                    text=f"A card was shown to the reader:\n{item.copy_text}",
                )
            ],
        )

    async def client_tool_call_to_input(
        self, item: ClientToolCallItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        if not self.outputs_only:
            return await super().client_tool_call_to_input(item)
        if item.status == "pending":
            return None
        return FunctionCallOutput(
            type="function_call_output", call_id=item.call_id, output=json.dumps(item.output)
        )
