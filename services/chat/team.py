"""The agents that answer a reader, and how a turn picks one.

A triage agent (the guide) hands off, with the Agents SDK's handoffs, to the
**book assistant** (questions about the content, `agent.py`) or the **tutor**
(quizzes on the lesson, `tutor.py`); the two hand off to each other when the reader
changes what they want. A handoff carries the whole conversation (the SDK's default
input) and the same `BookAgentContext`, so the page context goes over with it. The
book assistant answers unless the thread shows otherwise: a handoff to the tutor, and
the one back, shows the reader a task item naming the agent that answers from then on.
The thread's metadata keeps the agent that answered last (`AGENT`): the next turn
starts with it, so only a thread's first message goes through the guide (one model
call more than answering directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from agents import Agent, Handoff, Model, RunContextWrapper, handoff
from chatkit.types import CustomTask, TaskItem, ThreadItemDoneEvent, ThreadMetadata

from services.chat.agent import build_agent
from services.chat.context import BookAgentContext
from services.chat.tutor import INSTRUCTIONS as TUTOR_INSTRUCTIONS
from services.chat.tutor import quiz_lesson

AGENT = "agent"
"""Thread metadata: the name of the agent that answered last."""
GUIDE = "Guide"
ASSISTANT = "Book assistant"
TUTOR = "Tutor"

GUIDE_INSTRUCTIONS = f"""\
You route the reader of one book to the agent that serves them; you never answer yourself.
- A request to be quizzed or tested on what they read ("quiz me", "test my understanding", \
"ask me questions about this lesson"): hand off to the {TUTOR.lower()}.
- Anything else: hand off to the {ASSISTANT.lower()}.
"""

_ROLE = {
    ASSISTANT: "answers questions from the book",
    TUTOR: "quizzes the reader on the lesson",
}


class Team:
    """The agents on one model, by name, with their handoffs wired."""

    def __init__(self, model: Model, *, parallel_tool_calls: bool | None = None) -> None:
        assistant = build_agent(model, parallel_tool_calls=parallel_tool_calls)
        tutor = Agent[BookAgentContext](name=TUTOR, instructions=TUTOR_INSTRUCTIONS, model=model)
        tutor.tools = [quiz_lesson]
        guide = Agent[BookAgentContext](name=GUIDE, instructions=GUIDE_INSTRUCTIONS, model=model)
        guide.handoffs = [_handoff_to(assistant), _handoff_to(tutor)]
        assistant.handoffs = [_handoff_to(tutor)]
        tutor.handoffs = [_handoff_to(assistant)]
        self.entry = guide
        self.by_name: Mapping[str, Agent[BookAgentContext]] = {
            agent.name: agent for agent in (guide, assistant, tutor)
        }

    def starting_agent(self, thread: ThreadMetadata) -> Agent[BookAgentContext]:
        """The agent that answered the thread last, or the guide for a new thread."""
        return self.by_name.get(str(thread.metadata.get(AGENT) or ""), self.entry)

    @staticmethod
    def remember(thread: ThreadMetadata, last_agent: Agent[BookAgentContext]) -> None:
        """Keep who answered, so the next turn continues with it (the guide never does)."""
        if last_agent.name != GUIDE:
            thread.metadata[AGENT] = last_agent.name


def _handoff_to(
    agent: Agent[BookAgentContext],
) -> Handoff[BookAgentContext, Agent[BookAgentContext]]:
    async def announce(ctx: RunContextWrapper[BookAgentContext]) -> None:
        agent_ctx = ctx.context
        if agent.name == ASSISTANT and agent_ctx.thread.metadata.get(AGENT) in (None, ASSISTANT):
            return  # the assistant is who answers unless a task item says otherwise
        await agent_ctx.stream(
            ThreadItemDoneEvent(
                item=TaskItem(
                    id=agent_ctx.generate_id("task"),
                    thread_id=agent_ctx.thread.id,
                    created_at=datetime.now(),
                    task=CustomTask(
                        title=f"{agent.name} is answering",
                        content=f"The {agent.name.lower()} {_ROLE[agent.name]}.",
                        icon="notebook-pencil" if agent.name == TUTOR else "book-open",
                    ),
                )
            )
        )

    return handoff(
        agent,
        on_handoff=announce,
        tool_description_override=f"Hand the conversation to the {agent.name.lower()}, "
        f"who {_ROLE[agent.name]}.",
    )
