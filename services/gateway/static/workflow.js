// ChatKit workflow items (`chatkit.types.WorkflowItem`): what the assistant did on the way to
// an answer (its reasoning, searches, files, custom steps) as a collapsible list of tasks,
// updated as `workflow.task.added` / `workflow.task.updated` arrive.

import { icon } from "./icons.js";
import { appendMarkdown, safeHref } from "./markdown.js";

const MAX_TASKS = 100;

/** A `<details>` for `workflow`; `streaming` while the item is not done. */
export function renderWorkflow(workflow, streaming) {
  const el = document.createElement("details");
  el.className = "workflow";
  el.open = Boolean(workflow.expanded) || streaming;
  const summary = document.createElement("summary");
  summary.textContent = summaryText(workflow, streaming);
  const tasks = document.createElement("ol");
  tasks.className = "workflow-tasks";
  for (const task of (workflow.tasks || []).slice(0, MAX_TASKS)) tasks.append(renderTask(task));
  el.append(summary, tasks);
  return el;
}

/** `workflow` with a streamed task update applied (a new object; the old one unchanged). */
export function applyWorkflowUpdate(workflow, update) {
  const tasks = [...(workflow.tasks || [])];
  if (update.type === "workflow.task.added" || update.type === "workflow.task.updated") {
    if (update.task_index >= 0 && update.task_index <= tasks.length) tasks[update.task_index] = update.task;
  }
  return { ...workflow, tasks };
}

function summaryText(workflow, streaming) {
  const s = workflow.summary;
  if (s?.title) return String(s.title);
  if (typeof s?.duration === "number") return `Worked for ${s.duration} s`;
  if (streaming) return "Working…";
  return workflow.type === "reasoning" ? "Reasoning" : "Steps";
}

/** A task item on its own (a step outside a workflow, e.g. "Tutor is answering"). */
export function renderTaskItem(task) {
  const list = document.createElement("ol");
  list.className = "workflow-tasks task-item";
  list.append(renderTask(task));
  return list;
}

function renderTask(task) {
  const li = document.createElement("li");
  li.className = `workflow-task task-${String(task.type || "custom").replace(/[^a-z_]/g, "")}`;
  const head = document.createElement("div");
  head.className = "task-title";
  const mark = task.status_indicator === "complete" ? icon("check") : null;
  if (task.status_indicator === "loading") li.classList.add("loading");
  if (mark) head.append(mark);
  else if (task.icon && icon(task.icon)) head.append(icon(task.icon));
  head.append(String(task.title || task.title_query || defaultTitle(task)));
  li.append(head);
  if (typeof task.content === "string" && task.content) {
    const body = document.createElement("div");
    body.className = "task-body";
    appendMarkdown(body, task.content);
    li.append(body);
  }
  if (Array.isArray(task.queries) && task.queries.length) {
    const queries = document.createElement("div");
    queries.className = "task-queries";
    queries.textContent = task.queries.map((q) => `“${q}”`).join(" · ");
    li.append(queries);
  }
  if (Array.isArray(task.sources) && task.sources.length) {
    const list = document.createElement("ul");
    list.className = "task-sources";
    for (const source of task.sources.slice(0, 20)) {
      const entry = document.createElement("li");
      const href = source.type === "url" ? safeHref(source.url) : null;
      const label = String(source.title || source.filename || source.url || "source");
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = label;
        entry.append(a);
      } else entry.textContent = label;
      list.append(entry);
    }
    li.append(list);
  }
  return li;
}

function defaultTitle(task) {
  return { thought: "Thinking", web_search: "Searching", file: "Reading files", image: "Making an image" }[task.type] || "Step";
}
