"""Every component of `chatkit.widgets`, built with the SDK's own classes, rendered by the web
client in Chromium: what each shows, what its actions send (form values included), streamed
updates, and an unknown component that degrades to its children."""

from __future__ import annotations

import inspect
import json
import re
import warnings
from typing import Any

import chatkit.widgets as w
import pytest
from chatkit.actions import ActionConfig
from chatkit.types import WidgetComponentUpdated, WidgetRootUpdated, WidgetStreamingTextValueDelta

from tests.integration.gateway.upstream import Control

pytestmark = pytest.mark.e2e


def component_types() -> set[str]:
    """The `type` of every concrete component class the SDK defines."""
    return {
        cls.model_fields["type"].default
        for cls in vars(w).values()
        if inspect.isclass(cls)
        and issubclass(cls, w.WidgetComponentBase)
        and cls.__module__ == w.__name__
        and isinstance(cls.model_fields["type"].default, str)
    }


def act(kind: str, **payload: Any) -> ActionConfig:
    return ActionConfig(type=kind, payload=payload)


def every_component() -> list[dict[str, Any]]:
    """Widgets (roots: a Card, a ListView, a Basic root) holding each component at least
    once, as the server serializes them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        form = w.Form(
            onSubmitAction=act("quiz.submit", quiz="q1"),
            children=[
                w.Label(value="Your name", fieldName="name"),
                w.Input(name="name", placeholder="Name", required=True),
                w.Label(value="Answer", fieldName="answer"),
                w.Textarea(name="answer", defaultValue="An index", rows=2),
                w.Select(
                    name="level",
                    options=[
                        {"label": "Easy", "value": "easy"},
                        {"label": "Hard", "value": "hard"},
                    ],
                    defaultValue="easy",
                ),
                w.Checkbox(name="sure", label="I am sure"),
                w.RadioGroup(
                    name="choice",
                    options=[{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
                ),
                w.DatePicker(name="when", defaultValue="2026-12-03T00:00:00"),
                w.Button(label="Check", submit=True),
            ],
        )
        chart = w.Chart(
            data=[
                {"m": "Jan", "a": 3, "b": 1},
                {"m": "Feb", "a": 5, "b": 2},
                {"m": "Mar", "a": 2, "b": 4},
            ],
            series=[
                w.BarSeries(label="Reads", dataKey="a"),
                w.LineSeries(label="Quizzes", dataKey="b"),
                w.AreaSeries(label="Notes", dataKey="b", color="purple"),
            ],
            xAxis="m",
            showYAxis=True,
        )
        items = [
            w.ListViewItem(
                children=[w.Text(value=f"Lesson {n}")], onClickAction=act("lesson.open", n=n)
            )
            for n in range(1, 5)
        ]
        root = w.Card(
            confirm={"label": "Done", "action": act("card.done")},
            children=[
                w.Title(value="All components"),
                w.Text(id="streamed", value="Hello"),
                w.Caption(value="a caption"),
                w.Markdown(id="md", value="**bold** text"),
                w.Badge(label="new"),
                w.Row(
                    children=[
                        w.Icon(name="check"),
                        w.Spacer(),
                        w.Button(label="Go", onClickAction=act("go")),
                    ]
                ),
                w.Col(
                    children=[
                        w.Divider(),
                        w.Image(src="https://example.com/a.png", alt="a picture"),
                    ]
                ),
                w.Box(children=[form]),
                chart,
                w.Transition(children=w.Text(value="moved in")),
            ],
        )
        # A root of its own kind, nested as a dynamic component
        basic = w.BasicRoot.model_validate(
            {"type": "Basic", "children": [{"type": "Text", "value": "inside a basic root"}]}
        )
        listing = w.ListView(limit=2, children=items)
    return [
        widget.model_dump(mode="json", exclude_none=True, by_alias=True)
        for widget in (root, listing, basic)
    ]


RENDER = """async (nodes) => {
  const { renderWidget } = await import("/static/widgets.js");
  window.sentActions = [];
  window.widgetNotes = [];
  const info = console.info;
  console.info = (...args) => { window.widgetNotes.push(args.join(" ")); info(...args); };
  const box = document.createElement("div");
  box.id = "widget-under-test";
  box.className = "msg widget";
  panel().querySelector("#messages").append(box);
  window.widgetCtx = { onAction: (action) => window.sentActions.push(action) };
  for (const node of [nodes].flat()) box.append(renderWidget(node, window.widgetCtx));
  return [...box.querySelectorAll(".w")].flatMap((el) => [...el.classList]);
}"""

UPDATE = """async (update) => {
  const { applyWidgetUpdate } = await import("/static/widgets.js");
  const box = panel().querySelector("#widget-under-test");
  applyWidgetUpdate(box.firstElementChild, update, window.widgetCtx);
}"""

WIDGET = "#widget-under-test"


async def test_every_sdk_component_renders_as_itself(page: Any) -> None:
    widgets = every_component()
    used = set(_types(widgets))
    assert component_types() <= used, f"add to the widgets: {component_types() - used}"
    rendered = await page.evaluate(RENDER, widgets)
    assert {f"w-{t.lower()}" for t in component_types()} <= set(rendered)
    assert await page.evaluate("window.widgetNotes") == []  # none fell back to a box
    box = page.locator(WIDGET)
    assert await box.locator("h4.w-title").text_content() == "All components"
    assert await box.locator(".w-markdown strong").text_content() == "bold"
    assert await box.locator("img.w-image").get_attribute("alt") == "a picture"
    # the chart: a bar per point, a line and an area path, points, axis labels, a legend
    chart = box.locator(".w-chart")
    assert await chart.locator("rect.w-chart-bar").count() == 3
    assert await chart.locator("path.w-chart-line").count() == 2
    assert await chart.locator("path.w-chart-area").count() == 1
    assert await chart.locator("circle.w-chart-point").count() == 6
    assert "Feb" in (await chart.locator("svg").text_content() or "")
    assert await chart.locator(".w-chart-legend span").all_text_contents() == [
        "Reads",
        "Quizzes",
        "Notes",
    ]
    assert await chart.locator("table td").count() == 12  # the numbers, for screen readers
    # a list past its limit shows a "Show more"
    items = box.locator(".w-listview li.w-listviewitem")
    assert [await i.is_visible() for i in await items.all()] == [True, True, False, False]
    await box.locator(".w-listview .w-more").click()
    assert await items.nth(3).is_visible()


async def test_a_form_sends_its_values_with_its_action(page: Any) -> None:
    await page.evaluate(RENDER, every_component())
    form = page.locator(f"{WIDGET} form.w-form")
    # labels are tied to their fields
    await page.get_by_label("Your name").fill("Ada")
    await form.locator("input[type=checkbox]").check()
    await form.get_by_label("B").check()
    await form.locator("select").select_option("hard")
    await form.locator("button[type=submit]").click()
    sent = await page.evaluate("window.sentActions")
    assert [(a["type"], a["payload"]) for a in sent] == [
        (
            "quiz.submit",
            {
                "quiz": "q1",
                "name": "Ada",
                "answer": "An index",
                "level": "hard",
                "sure": True,
                "choice": "b",
                "when": "2026-12-03",
            },
        )
    ]


async def test_a_searchable_clearable_select_filters_and_clears(page: Any) -> None:
    """`searchable`: typing filters the choices, Enter picks the first left (the form is not
    sent); `clearable`: a button empties the choice; each change sends `onChangeAction`."""
    lessons = [
        {"label": "Page context", "value": "context"},
        {"label": "Search scopes", "value": "scopes"},
        {"label": "Search boosting", "value": "boosting"},
    ]
    picker = w.Select(
        name="lesson",
        options=lessons,
        placeholder="a lesson",
        searchable=True,
        clearable=True,
        onChangeAction=act("lesson.pick"),
    )
    form = w.Form(onSubmitAction=act("form.sent"), children=[picker])
    await page.evaluate(RENDER, json.loads(form.model_dump_json(exclude_none=True)))
    box = page.locator(WIDGET)
    search = box.get_by_role("searchbox", name="Filter the choices of a lesson")
    await search.fill("search")
    hidden = await box.locator("select option").evaluate_all(
        "options => options.filter((o) => o.hidden).map((o) => o.value)"
    )
    assert hidden == ["context"]
    await search.press("Enter")
    assert await box.locator("select").input_value() == "scopes"
    await box.get_by_role("button", name="Clear a lesson").click()
    assert await box.locator("select").input_value() == ""
    sent = await page.evaluate("window.sentActions")
    assert [(a["type"], a["payload"]) for a in sent] == [
        ("lesson.pick", {"lesson": "scopes"}),
        ("lesson.pick", {"lesson": ""}),
    ]  # and no "form.sent": Enter in the filter chose, it did not submit


CURVES = """() => [...panel().querySelectorAll("#widget-under-test path.w-chart-line")]
  .map((p) => p.getAttribute("d"))"""


async def test_line_series_follow_their_curve_type(page: Any) -> None:
    data = [{"x": str(n), "v": v} for n, v in enumerate([1, 8, 8.5, 2, 3])]
    charts = [
        w.Chart(
            data=data, series=[w.LineSeries(label=kind, dataKey="v", curveType=kind)], xAxis="x"
        )
        for kind in ("linear", "step", "monotone")
    ]
    await page.evaluate(RENDER, [json.loads(c.model_dump_json(exclude_none=True)) for c in charts])
    linear, step, monotone = await page.evaluate(CURVES)
    assert set(re.findall("[A-Z]", linear)) == {"M", "L"}
    assert set(re.findall("[A-Z]", step)) == {"M", "H", "V"}
    assert set(re.findall("[A-Z]", monotone)) == {"M", "C"}
    # monotone: no control point beyond its segment's ends (the curve never overshoots)
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", monotone)]
    ys = numbers[1::2]
    start, segments = ys[0], [ys[1 + 3 * k : 4 + 3 * k] for k in range((len(ys) - 1) // 3)]
    for c1, c2, end in segments:
        low, high = min(start, end), max(start, end)
        assert low - 0.05 <= c1 <= high + 0.05 and low - 0.05 <= c2 <= high + 0.05
        start = end


async def test_a_required_field_keeps_the_form_from_being_sent(page: Any) -> None:
    await page.evaluate(RENDER, every_component())
    await page.locator(f"{WIDGET} form.w-form button[type=submit]").click()
    assert await page.evaluate("window.sentActions") == []


async def test_clicks_send_their_actions(page: Any) -> None:
    await page.evaluate(RENDER, every_component())
    box = page.locator(WIDGET)
    await box.get_by_role("button", name="Go").click()
    await box.locator(".w-listviewitem").first.click()
    await box.locator(".w-listviewitem").nth(1).press("Enter")  # keyboard too
    await box.get_by_role("button", name="Done").click()
    sent = await page.evaluate("window.sentActions")
    assert [(a["type"], a.get("payload")) for a in sent] == [
        ("go", {}),
        ("lesson.open", {"n": 1}),
        ("lesson.open", {"n": 2}),
        ("card.done", {}),
    ]


async def test_streamed_updates_change_the_widget_in_place(page: Any) -> None:
    await page.evaluate(RENDER, every_component())
    for delta, done in ((" wor", False), ("ld", True)):
        update = WidgetStreamingTextValueDelta(component_id="streamed", delta=delta, done=done)
        await page.evaluate(UPDATE, update.model_dump(mode="json"))
    box = page.locator(WIDGET)
    assert await box.locator("[data-wid=streamed]").text_content() == "Hello world"
    update = WidgetStreamingTextValueDelta(component_id="md", delta=" and *more*", done=True)
    await page.evaluate(UPDATE, update.model_dump(mode="json"))
    assert await box.locator("[data-wid=md] em").text_content() == "more"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        replaced = WidgetComponentUpdated(
            component_id="streamed", component=w.Text(id="streamed", value="Replaced")
        )
        root = WidgetRootUpdated(widget=w.Card(children=[w.Title(value="A new widget")]))
    await page.evaluate(UPDATE, json.loads(replaced.model_dump_json(exclude_none=True)))
    assert await box.locator("[data-wid=streamed]").text_content() == "Replaced"
    await page.evaluate(UPDATE, json.loads(root.model_dump_json(exclude_none=True)))
    assert await box.locator("h4.w-title").all_text_contents() == ["A new widget"]


async def test_an_unknown_component_shows_its_children_and_says_so(page: Any) -> None:
    node = {
        "type": "Card",
        "children": [{"type": "Sparkline", "children": [{"type": "Text", "value": "kept"}]}],
    }
    await page.evaluate(RENDER, node)
    assert await page.locator(f"{WIDGET} .w-sparkline .w-text").text_content() == "kept"
    assert await page.evaluate("window.widgetNotes") == [
        "widget: unknown component Sparkline; showing its children"
    ]


def _types(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = (
            [node["type"]]
            if isinstance(node.get("type"), str) and node["type"][0].isupper()
            else []
        )
        return found + [t for value in node.values() for t in _types(value)]
    if isinstance(node, list):
        return [t for value in node for t in _types(value)]
    return []


async def test_a_widget_streamed_by_the_sdk_updates_on_screen(
    page: Any, e2e_control: Control
) -> None:
    """`stream_widget` (the SDK's) through the gateway: the text of a widget grows as its
    states arrive, before the item is done (the upstream holds its last state back)."""
    await page.fill("#question", "Please stream a widget")
    await page.click("#send")
    count = page.locator(".msg.widget [data-wid=count]")
    await count.filter(has_text="one two").wait_for()
    assert await count.text_content() == "one two"  # a streamed delta, the item not done yet
    e2e_control.widget_gate.set()
    await count.filter(has_text="one two three").wait_for()
    assert await page.locator(".msg.widget").count() == 1
