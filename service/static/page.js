// The page's wiring: tabs, the two forms, and the stages of a streamed solve.

import { ApiError, openapi, postJSON, readiness, setKey, streamEvents } from "./api.js";
import {
  candidateCard, costTable, el, fmt, legend, percent, stepList,
} from "./render.js";

const $ = (id) => document.getElementById(id);

const EXAMPLE = {
  question: "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
    + "How many apples does Mia have now?",
  working: "The 3 bags hold 3 x 6 = 18 apples.\nMia now has 12 + 18 = 31 apples.\n#### 31",
};

const STAGE_TITLES = {
  draft: "Draft: the student's greedy solution",
  orm: "When: the ORM's confidence in the answer",
  sorm: "Where: the SORM's step values and the first error",
  global: "How (global): the whole solution rewritten",
  local: "How (local): rewritten from the first error",
  repair: "How (repair): the slip's value corrected, the student continuing",
  final: "The winner, and why",
};

function showProblem(box, err) {
  box.replaceChildren();
  if (err) {
    const lines = (err instanceof ApiError ? err.message : String(err)).split("\n");
    box.append(el("strong", {}, lines[0]), ...lines.slice(1).map((l) => el("p", {}, l)));
  }
  box.hidden = !err;
}

function busy(form, on) {
  form.querySelector("button[type=submit]").disabled = on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

// --- tabs -------------------------------------------------------------------------------

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) select(tabs[(i + step + tabs.length) % tabs.length]);
    });
  });
}

// --- critique ---------------------------------------------------------------------------

function errorSummary(r) {
  if (r.first_error === null) {
    return "No wrong step found: every step's arithmetic that could be checked holds, and no "
      + "step's SORM value is below the threshold.";
  }
  const by = r.source === "arithmetic" ? "the exact arithmetic check" : "the SORM";
  return `The first wrong step is step ${r.first_error + 1}, found by ${by}`
    + ` (the SORM's value there: ${fmt(r.step_values[r.first_error])}).`;
}

function revealed(r) {
  if (r.first_error === null) return null;
  if (r.reveal === "location") {
    return el("p", { class: "reveal-note" },
      "Reveal level location: only where the error is. Choose step or full to see a fix.");
  }
  const verified = r.correction_verified === null ? null
    : ` Its arithmetic ${r.correction_verified ? "checks" : "does not check"}.`;
  const parts = [
    el("h3", {}, "Corrected step"),
    el("p", { class: "corrected-step" }, r.corrected_step ?? "no correction was made"),
    el("p", { class: "correction-by" },
      `Written by ${r.correction_by === "repair" ? "exact repair of the slip" : "the local refiner"}.`,
      verified, r.correction_note ? ` ${r.correction_note}` : null),
  ];
  if (r.reveal === "full" && r.corrected_solution) {
    parts.push(el("h3", {}, `Corrected solution (answer ${r.corrected_answer ?? "none parsed"})`),
      stepList(r.corrected_solution, { values: null }));
  }
  return el("section", { class: "revealed", "aria-label": "Revealed correction" }, parts);
}

function showCritique(r) {
  $("critique-result").replaceChildren(
    el("p", { class: "confidence" }, "The ORM gives the final answer a ",
      el("strong", {}, percent(r.orm_confidence)), " chance of being right."),
    el("p", { class: "summary" }, errorSummary(r)),
    legend(),
    stepList(r.steps, { values: r.step_values, checks: r.checks, firstError: r.first_error,
      source: r.source }),
    revealed(r));
}

async function critique() {
  const form = $("critique-form");
  if (!form.reportValidity()) return;
  busy(form, true);
  showProblem($("critique-error"), null);
  try {
    showCritique(await postJSON("/v1/critique", {
      question: $("c-question").value,
      solution: $("c-solution").value,
      reveal: form.elements.reveal.value,
    }));
  } catch (err) {
    $("critique-result").replaceChildren();
    showProblem($("critique-error"), err);
  } finally {
    busy(form, false);
  }
}

// --- solve ------------------------------------------------------------------------------

/** The SORM stage's line for one candidate: its first error, or its least trusted step. */
function whereText(s) {
  if (s.first_error === null) return "no step values";
  const at = `step ${s.first_error + 1} (SORM ${fmt(s.sorm_values[s.first_error])})`;
  return s.first_error_flagged === false
    ? `no step below the threshold; the least trusted is ${at}` : `first error at ${at}`;
}

class SolveView {
  constructor(list) {
    this.list = list;
    this.candidates = new Map(); // name -> candidate as known so far
    this.cards = new Map(); // name -> the node showing it
  }

  stage(name, ...body) {
    const item = el("li", { class: `stage stage-${name}`, "data-stage": name },
      el("h3", {}, STAGE_TITLES[name] ?? name), ...body);
    this.list.append(item);
    return item;
  }

  card(c, draft) {
    this.candidates.set(c.name, c);
    const node = candidateCard(c, draft);
    const old = this.cards.get(c.name);
    if (old) old.replaceWith(node);
    this.cards.set(c.name, node);
    return node;
  }

  update(name, fields) {
    const c = { ...this.candidates.get(name), ...fields };
    this.card(c, name === "draft" ? null : this.candidates.get("draft"));
  }

  on(event, data) {
    const handler = {
      draft: () => this.stage("draft", ...data.candidates.map((c) => this.card(c))),
      orm: () => this.orm(data.scores),
      sorm: () => this.sorm(data.scores),
      final: () => this.final(data),
    }[event] ?? (() => this.stage(event, this.card(data.candidate, this.candidates.get("draft"))));
    handler();
  }

  orm(scores) {
    for (const s of scores) this.update(s.candidate, { orm_score: s.orm_score });
    this.stage("orm", el("ul", {}, scores.map((s) => el("li", {},
      `${s.candidate}: the answer is right with probability ${fmt(s.orm_score, 3)}`))));
  }

  sorm(scores) {
    for (const s of scores) {
      const checks = s.checks ? s.checks.map((check) => ({ check })) : null;
      this.update(s.candidate, { sorm_values: s.sorm_values, first_error: s.first_error,
        first_error_flagged: s.first_error_flagged, checks });
    }
    this.stage("sorm", legend(), el("ul", {}, scores.map((s) => el("li", {},
      `${s.candidate}: ${whereText(s)}`))));
  }

  final(r) {
    const winner = r.candidates.find((c) => c.name === r.winner);
    this.cards.get(r.winner)?.classList.add("winner");
    this.cards.get(r.winner)?.querySelector("h4")
      ?.append(el("span", { class: "winner-tag" }, " winner"));
    this.stage("final",
      r.abstain ? el("p", { class: "abstain", role: "note" }, el("strong", {}, "Unsure: "),
        `${r.abstain_reason} Treat the answer below as a guess.`) : null,
      el("p", { class: "winner-line" }, "Winner ", el("strong", {}, r.winner), ", answer ",
        el("strong", {}, r.answer ?? "none parsed"),
        winner ? ` (ORM ${fmt(winner.orm_score, 3)})` : null),
      el("p", { class: "reason" }, `Why: ${r.reason}`),
      r.degraded ? el("p", { class: "degraded" }, `Degraded: ${r.degraded_reason}`) : null,
      costTable(r.stages));
  }
}

async function solve() {
  const form = $("solve-form");
  if (!form.reportValidity()) return;
  busy(form, true);
  showProblem($("solve-error"), null);
  const view = new SolveView($("solve-stages"));
  view.list.replaceChildren();
  const options = $("s-mode").value ? { mode: $("s-mode").value } : {};
  try {
    const body = { question: $("s-question").value, strategy: $("s-strategy").value, options,
      stream: true };
    for await (const { event, data } of streamEvents("/v1/solve", body)) {
      if (event === "error") throw new ApiError(data.status, data);
      view.on(event, data);
    }
  } catch (err) {
    showProblem($("solve-error"), err);
  } finally {
    busy(form, false);
  }
}

// --- start ------------------------------------------------------------------------------

async function describeServer() {
  try {
    const [ready, doc] = await Promise.all([readiness(), openapi()]);
    const strategies = doc.components.schemas.SolveRequest.properties.strategy.enum;
    $("s-strategy").replaceChildren(...strategies.map((s) => el("option", { value: s }, s)));
    $("ready").textContent = ready.ok ? `Ready: GLoRe ${doc.info.version}.`
      : `Not ready: ${(ready.body?.checks || []).filter((c) => !c.ok)
        .map((c) => `${c.name}: ${c.detail}`).join("; ") || "see /readyz"}`;
  } catch (err) {
    $("ready").textContent = `The server could not be described: ${err.message}`;
  }
}

function start() {
  setupTabs();
  $("api-key").addEventListener("input", (e) => setKey(e.target.value));
  $("key-form").addEventListener("submit", (e) => e.preventDefault());
  $("critique-form").addEventListener("submit", (e) => { e.preventDefault(); critique(); });
  $("solve-form").addEventListener("submit", (e) => { e.preventDefault(); solve(); });
  for (const radio of document.querySelectorAll("input[name=reveal]")) {
    // The API withholds what is not revealed, so a new level is a new request.
    radio.addEventListener("change", () => {
      if ($("critique-result").childElementCount) critique();
    });
  }
  $("c-example").addEventListener("click", () => {
    $("c-question").value = EXAMPLE.question;
    $("c-solution").value = EXAMPLE.working;
  });
  $("s-example").addEventListener("click", () => { $("s-question").value = EXAMPLE.question; });
  describeServer();
}

start();
