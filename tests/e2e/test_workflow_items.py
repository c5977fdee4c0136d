"""Workflow items (the assistant's steps) in the web client: tasks appear and change as the
SDK's `workflow.task.*` updates arrive, the summary comes with the finished item, and the
steps survive a reload of the thread."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.upstream import CITED_URL, Control

pytestmark = pytest.mark.e2e

WORKFLOW = ".msg.workflow"


async def test_a_workflow_streams_its_tasks_then_its_summary(
    page: Any, e2e_control: Control
) -> None:
    await page.fill("#question", "Please show your work")
    await page.click("#send")
    tasks = page.locator(f"{WORKFLOW} .workflow-task")
    await page.wait_for_function(
        "() => panel().querySelectorAll('.msg.workflow .workflow-task').length === 2"
    )
    # before the item is done: open, the first task finished (its update applied), no summary yet
    assert await page.locator(f"{WORKFLOW} details[open]").count() == 1
    assert await page.locator(f"{WORKFLOW} summary").text_content() == "Working…"
    first = tasks.nth(0)
    assert "loading" not in (await first.get_attribute("class") or "")
    assert await first.locator(".task-body strong").text_content() == "scopes"
    second = tasks.nth(1)
    assert await second.locator(".task-queries").text_content() == "“search scopes”"
    assert await second.locator(".task-sources a").get_attribute("href") == CITED_URL
    e2e_control.widget_gate.set()
    await page.locator(f"{WORKFLOW} summary >> text=Worked for 3 s").wait_for()
    assert await tasks.count() == 2

    await page.reload()
    await page.wait_for_selector("body.ready")
    await page.click("#threads-toggle")
    await page.click(".thread-item .open >> text=Please show your work")
    await page.locator(f"{WORKFLOW} summary >> text=Worked for 3 s").wait_for()
    assert await page.locator(f"{WORKFLOW} .workflow-task").count() == 2
