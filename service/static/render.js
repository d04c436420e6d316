// Pure rendering: API objects in, DOM nodes out. Text always goes in as text (a student's
// working is untrusted), and every colour has its value printed beside it.

/** `el("p", {class: "x"}, "text", child)`: an element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function fmt(value, digits = 2) {
  return value === null || value === undefined ? "n/a" : Number(value).toFixed(digits);
}

export function percent(value) {
  return value === null || value === undefined ? "n/a" : `${Math.round(value * 100)}%`;
}

/** Red (0) through amber to green (1), light enough for dark text. */
export function valueColour(value) {
  return `hsl(${Math.round(Math.max(0, Math.min(1, value)) * 120)} 75% 82%)`;
}

function valueBadge(value, label) {
  const badge = el("span", { class: "value", title: `${label} ${fmt(value, 3)}` },
    el("span", { class: "visually-hidden" }, `${label} `), fmt(value));
  badge.style.backgroundColor = valueColour(value);
  return badge;
}

function checkText(check) {
  if (!check) return null;
  if (check.check === "wrong") {
    return check.equation ? `arithmetic wrong: ${check.equation} (should be ${check.expected})`
      : "arithmetic wrong";
  }
  if (check.check === "ok") return "arithmetic checks";
  return check.reason ? `not checked: ${check.reason}` : "not checked";
}

/**
 * The steps as a list: each with its SORM value (colour and number), its exact check, and
 * the first wrong step marked in words as well as colour.
 */
export function stepList(steps, { values = null, checks = null, firstError = null,
  source = null, label = "SORM", marker = "First wrong step", flagged = true } = {}) {
  const list = el("ol", { class: "steps" });
  // An unflagged firstError is only where a refinement restarts: marked, never as wrong.
  const kind = flagged ? "first-error" : "restart";
  steps.forEach((text, i) => {
    const wrong = i === firstError;
    const check = checks ? checks[i] : null;
    const item = el("li", { class: wrong ? `step ${kind}` : "step", "data-step": i },
      el("span", { class: "num" }, `Step ${i + 1}`),
      el("span", { class: "text" }, text),
      values ? valueBadge(values[i], label) : el("span", { class: "value pending" }, "..."),
      check ? el("span", { class: `check check-${check.check}` }, checkText(check)) : null,
      ...(check?.warnings || []).map((w) => el("span", { class: "warning" }, `warning: ${w}`)),
      wrong ? el("strong", { class: "marker" },
        `${marker}${source ? ` (found by the ${sourceName(source)})` : ""}`) : null);
    list.append(item);
  });
  return list;
}

/** Why the local refiner restarts where it does: a flagged error, or no step below the threshold. */
export function restartMarker(flagged) {
  return flagged === false
    ? "Where the local refiner restarts: no step is below the threshold, so its least trusted one"
    : "Where the local refiner restarts (the SORM's first error)";
}

function sourceName(source) {
  return source === "arithmetic" ? "exact arithmetic check" : "SORM";
}

export function legend() {
  const bar = el("span", { class: "scale", "aria-hidden": "true" });
  return el("p", { class: "legend" }, "Step values: ", el("span", {}, "0 (likely wrong)"),
    bar, el("span", {}, "1 (likely right)"));
}

/** Step-by-step difference of two solutions (longest common subsequence of steps). */
export function diffSteps(before, after) {
  const n = before.length;
  const m = after.length;
  const common = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i][j] = before[i] === after[j]
        ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const ops = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      ops.push({ op: "same", text: before[i] }); i++; j++;
    } else if (i < n && (j === m || common[i + 1][j] >= common[i][j + 1])) {
      ops.push({ op: "removed", text: before[i] }); i++; // a changed step: old line first
    } else {
      ops.push({ op: "added", text: after[j] }); j++;
    }
  }
  return ops;
}

const MARKS = { same: " ", added: "+", removed: "-" };

export function diffView(before, after) {
  const ops = diffSteps(before, after);
  if (ops.every((o) => o.op === "same")) return el("p", { class: "diff-none" }, "Same steps as the draft.");
  return el("ol", { class: "diff", "aria-label": "Steps changed from the draft" },
    ops.map((o) => el("li", { class: `diff-${o.op}` },
      el("span", { class: "mark", "aria-hidden": "true" }, MARKS[o.op]),
      el("span", { class: "visually-hidden" }, `${o.op}: `), o.text)));
}

/** One candidate: its answer, ORM score, steps with values, and its diff from the draft. */
export function candidateCard(c, draft = null, { winner = false } = {}) {
  const title = el("h4", {}, c.name, winner ? el("span", { class: "winner-tag" }, " winner") : null);
  return el("article", { class: winner ? "candidate winner" : "candidate", "data-candidate": c.name },
    title,
    el("p", { class: "answer" }, "Answer ", el("strong", {}, c.answer ?? "none parsed"),
      " | ORM ", c.orm_score === null ? "pending" : fmt(c.orm_score, 3), ` | ${c.tokens} tokens`),
    stepList(c.steps, { values: c.sorm_values, checks: c.checks, firstError: c.first_error,
      flagged: c.first_error_flagged !== false, marker: restartMarker(c.first_error_flagged) }),
    draft ? el("details", { open: true }, el("summary", {}, "Changes from the draft"),
      diffView(draft.steps, c.steps)) : null);
}

export function costTable(stages) {
  const rows = Object.entries(stages).map(([name, cost]) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, fmt(cost.seconds, 3)),
      el("td", {}, cost.tokens)));
  return el("table", { class: "costs" },
    el("caption", {}, "Cost per stage (wall time of the batched stage; tokens of this question)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "stage"),
      el("th", { scope: "col" }, "seconds"), el("th", { scope: "col" }, "tokens"))),
    el("tbody", {}, rows));
}
