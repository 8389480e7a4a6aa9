// The playground: one tab per task, each a form that calls the REST API and draws the attention it returns.
// The tabs come from tabs.json (the service's task registry); a task this page has no panel for gets a panel
// that sends a JSON body to its route and shows the answer.

import { ApiError, call, hasToken, setToken } from "./api.js";
import { mergePieces, shade, wordGrid } from "./attention.js";
import tabs from "./tabs.json" with { type: "json" }; // {panel, label, tasks, path}, in registry order

const $ = (selector, root = document) => root.querySelector(selector);
const panels = {};

function element(tag, { text, className, title, style, data } = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  if (title) node.title = title;
  if (style) Object.assign(node.style, style);
  if (data) Object.assign(node.dataset, data);
  return node;
}

// ---- service, token and tabs -------------------------------------------------------------------------

/** One tab per entry of tabs.json, on the page's own panel for it or on a JSON panel; panels without a tab go. */
function showTabs() {
  for (const tab of tabs) {
    panels[tab.panel] = $(`.panel[data-task=${tab.panel}]`) || jsonPanel(tab);
    const button = element("button", { text: tab.label, data: { task: tab.panel } });
    button.id = `tab-${tab.panel}`;
    button.setAttribute("role", "tab");
    button.addEventListener("click", () => select(tab.panel));
    $("nav").append(button);
  }
  for (const panel of document.querySelectorAll(".panel")) if (!panels[panel.dataset.task]) panel.remove();
}

/** A panel for a task this page does not know: a JSON body to its route, the JSON answer. */
function jsonPanel(tab) {
  const panel = element("section", { className: "panel", data: { task: tab.panel } });
  panel.setAttribute("role", "tabpanel");
  panel.hidden = true;
  const absent = `No ${tab.panel} model is deployed on this service.`;
  const unavailable = element("p", { className: "unavailable", text: absent });
  unavailable.hidden = true;
  const form = element("form", { className: "card" });
  const label = element("label", { text: `Request body (JSON) of POST ${tab.path}` });
  const input = element("textarea");
  input.id = label.htmlFor = `${tab.panel}-body`;
  input.rows = 4;
  input.value = "{}";
  const button = element("button", { text: "Send" });
  button.type = "submit";
  form.append(label, input, button);
  const error = element("p", { className: "error" });
  error.setAttribute("role", "alert");
  error.hidden = true;
  const result = element("div", { className: "result" });
  result.hidden = true;
  const output = element("pre", { className: "output" });
  result.append(output, element("p", { className: "served note" }));
  panel.append(unavailable, form, error, result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(panel, () => call(tab.path.slice(1), { json: JSON.parse(input.value) }), (body) => {
      output.textContent = JSON.stringify(body, null, 2);
    });
  });
  document.body.append(panel);
  return panel;
}

/** The panel that shows `task` (one tab may show several tasks). */
function panelOf(task) {
  return tabs.find((tab) => tab.tasks.includes(task))?.panel;
}

function askForToken(message) {
  $("#token-form").hidden = false;
  $("#token-error").hidden = !message;
  $("#token-error").textContent = message || "";
  $("#token-input").focus();
}

/** Ask /v1/models what is deployed; mark the other tabs as not available. */
async function loadService() {
  let statuses;
  try {
    statuses = await call("v1/models");
  } catch (err) {
    if (err.status === 401) {
      $("#service").textContent = "Enter the API token to use this service.";
      askForToken(hasToken() ? err.message : "");
      return false;
    }
    $("#service").textContent = `Could not ask the service what it serves: ${err.message}`;
    return false;
  }
  $("#token-form").hidden = true;
  const byTask = Object.fromEntries(statuses.map((status) => [status.task, status]));
  const deployed = new Set();
  for (const { panel, tasks } of tabs) {
    const status = tasks.map((task) => byTask[task]).find(Boolean);
    if (status) deployed.add(panel);
    const tab = $(`#tab-${panel}`);
    tab.classList.toggle("unavailable", !status);
    tab.title = status ? "" : "not deployed on this service";
    $(".unavailable", panels[panel]).hidden = Boolean(status);
    $("form", panels[panel]).hidden = !status;
  }
  $("#service").textContent = statuses.length
    ? `Serving: ${statuses.map((s) => `${s.task} (${s.model ? served(s.model) : `loading${s.last_error ? `: ${s.last_error}` : ""}`})`).join(", ")}.`
    : "This service has no model deployed.";
  if (!deployed.has(location.hash.slice(1)) && statuses.length) select(panelOf(statuses[0].task));
  await loadSummaryModes(new Set(statuses.map((status) => status.task)));
  return true;
}

function select(panel) {
  if (!panels[panel]) panel = tabs[0]?.panel;
  for (const { panel: name } of tabs) {
    $(`#tab-${name}`).setAttribute("aria-selected", String(name === panel));
    panels[name].hidden = name !== panel;
  }
  if (panel) history.replaceState(null, "", `#${panel}`);
}

function served(model) {
  const name = model.name ? `${model.name} version ${model.version}` : model.uri;
  return model.alias ? `${name} @${model.alias}` : name;
}

// ---- one request per panel ---------------------------------------------------------------------------

/** Run `request` for `panel`: a busy button meanwhile, then `render(body)` or the API's message. */
async function submit(panel, request, render) {
  const button = $("button[type=submit]", panel);
  const error = $(".error", panel);
  const result = $(".result", panel);
  if (button) button.disabled = true;
  panel.dataset.state = "busy";
  try {
    const body = await request();
    error.hidden = true;
    render(body);
    $(".served", panel).textContent = body.model ? `Answered by ${served(body.model)}.` : "";
    result.hidden = false;
    panel.dataset.state = "done";
  } catch (err) {
    result.hidden = true;
    error.textContent = err instanceof ApiError ? err.message : `the page could not show the answer: ${err}`;
    error.hidden = false;
    panel.dataset.state = "error";
    if (err.status === 401) askForToken(err.message);
    if (!(err instanceof ApiError)) console.error(err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- translation -------------------------------------------------------------------------------------

function drawHeatmap(table, attention) {
  const source = mergePieces(attention.source_tokens);
  // A translation cut at its length limit lists </s> after its last piece but has no weights for it.
  const target = mergePieces(attention.target_tokens.slice(0, attention.weights.length));
  const grid = wordGrid(attention.weights, target, source); // (target words, source words)
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  head.append(element("th"));
  const columns = source.map(({ word }) => head.appendChild(element("th", { text: word })));
  const body = table.createTBody();
  grid.forEach((row, r) => {
    const tr = body.insertRow();
    tr.append(element("th", { text: target[r].word }));
    row.forEach((w, c) => {
      const title = `${target[r].word} → ${source[c].word}: ${w.toFixed(3)}`;
      const style = { background: shade(w), color: w > 0.5 ? "#fff" : "#000" };
      const text = w < 0.1 ? "" : w.toFixed(2).replace(/^0/, ""); // ".42"; small weights stay blank
      tr.append(element("td", { text, title, style, data: { weight: w } }));
    });
    tr.addEventListener("mouseenter", () =>
      columns.forEach((th, c) => {
        th.style.background = shade(row[c], "255, 170, 0");
        th.classList.toggle("attended", row[c] >= 0.1);
      }),
    );
    tr.addEventListener("mouseleave", () =>
      columns.forEach((th) => {
        th.style.background = "";
        th.classList.remove("attended");
      }),
    );
  });
}

function translate(event) {
  event.preventDefault();
  const panel = panels.translation;
  const json = {
    text: $("#translate-text").value,
    beam_size: Number($("#translate-beam").value),
    return_attention: true,
  };
  submit(
    panel,
    () => call("v1/translate", { json }),
    (body) => {
      const translation = body.translations[0];
      $("#translation").textContent = translation.text;
      drawHeatmap($("#heatmap"), translation.attention);
    },
  );
}

// ---- documents: classification and summarization -----------------------------------------------------

/** Each sentence with its attention weight, its words shaded (HAN's display); `chosen` sentences marked. */
function drawDocument(container, sentences, chosen = new Set()) {
  container.replaceChildren(
    ...sentences.map((sentence, position) => {
      const className = chosen.has(sentence.text) ? "sentence chosen" : "sentence";
      const row = element("div", { className, data: { position } });
      const weight = sentence.weight.toFixed(2);
      row.append(element("span", { className: "weight", text: weight, style: { background: shade(sentence.weight, "255, 60, 30") } }));
      const words = element("span");
      const top = Math.max(...sentence.word_weights) || 1;
      sentence.words.forEach((word, i) => {
        const w = sentence.word_weights[i];
        const style = { background: shade((w / top) * Math.sqrt(sentence.weight)) };
        words.append(element("span", { text: word, title: w.toFixed(3), style, data: { weight: w } }), " ");
      });
      row.append(words);
      return row;
    }),
  );
}

function classify(event) {
  event.preventDefault();
  const json = { text: $("#classify-text").value, return_attention: true };
  submit(
    panels.classification,
    () => call("v1/classify", { json }),
    (body) => {
      const result = body.results[0];
      $("#label").textContent = result.truncated ? `${result.label} (article cut to the model's limits)` : result.label;
      const bars = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]);
      $("#probabilities").replaceChildren(
        ...bars.flatMap(([label, p]) => [
          element("span", { text: label }),
          element("div", { className: label === result.label ? "bar top" : "bar", style: { width: `${p * 100}%` }, data: { label, probability: p } }),
          element("span", { text: `${(p * 100).toFixed(1)} %` }),
        ]),
      );
      drawDocument($("#classify-document"), result.attention);
    },
  );
}

/** The task whose model writes each kind of summary. */
const SUMMARY_MODE_TASK = { extractive: "summarization", abstractive: "abstractive" };

/** The summary modes the API offers (read from its OpenAPI schema, so a new mode shows up by itself)
 * whose model is deployed. */
async function loadSummaryModes(deployed) {
  let schema;
  try {
    schema = await call("openapi.json");
  } catch {
    return; // the select keeps "extractive"
  }
  const mode = schema?.components?.schemas?.SummarizeRequest?.properties?.mode || {};
  const offered = mode.enum || (mode.const ? [mode.const] : ["extractive"]);
  const modes = offered.filter((m) => deployed.has(SUMMARY_MODE_TASK[m] || m));
  if (!modes.length) return;
  const select = $("#summarize-mode");
  select.replaceChildren(...modes.map((m) => element("option", { text: m })));
  select.value = modes.includes(mode.default) ? mode.default : modes[0];
  select.disabled = modes.length < 2;
  select.title = modes.length < 2 ? "the only mode this service offers" : "";
}

/** The summary's words, those that also occur in the article marked as copied. */
function markCopied(summary, article) {
  const normal = (word) => word.toLowerCase().replace(/^\W+|\W+$/g, "");
  const known = new Set(article.split(/\s+/).map(normal));
  return summary.split(/\s+/).flatMap((word) => [
    element("span", { text: word, className: known.has(normal(word)) ? "copied" : "" }),
    " ",
  ]);
}

function summarize(event) {
  event.preventDefault();
  const mode = $("#summarize-mode").value;
  const text = $("#summarize-text").value;
  const json = { text, mode, max_sentences: Number($("#summarize-sentences").value), return_attention: true };
  submit(
    panels.summarization,
    () => call("v1/summarize", { json }),
    (body) => {
      const panel = panels.summarization;
      const chosen = new Set((body.sentences || []).map((s) => s.text));
      if (mode === "extractive") {
        $("#summary").replaceChildren(
          ...body.sentences.map((s) => element("span", { text: `${s.text} `, title: `sentence ${s.index}, score ${s.score.toFixed(3)}`, data: { index: s.index } })),
        );
        $(".legend", panel).textContent =
          "Below, the article as the model read it: the chosen sentences have a red edge; left, each sentence's " +
          "attention weight; blue, each word's weight within its sentence (scaled by √ of the sentence's weight).";
      } else {
        $("#summary").replaceChildren(...markCopied(body.summary, text));
        $(".legend", panel).textContent = "Marked: the summary's words that are copied from the article.";
      }
      drawDocument($("#summary-document"), body.attention || [], chosen);
    },
  );
}

// ---- captioning --------------------------------------------------------------------------------------

function drawOverlay(grid, weights) {
  const [rows, cols] = grid;
  const overlay = $("#overlay");
  overlay.style.gridTemplate = `repeat(${rows}, 1fr) / repeat(${cols}, 1fr)`;
  const top = Math.max(...weights.flat()) || 1;
  overlay.replaceChildren(
    ...weights.flat().map((w) =>
      element("div", { title: w.toFixed(3), data: { weight: w }, style: { background: `rgba(0, 0, 0, ${(0.8 * (1 - w / top)).toFixed(3)})` } }),
    ),
  );
}

function caption(file) {
  const panel = panels.captioning;
  const form = new FormData();
  form.append("image", file);
  form.append("beam_size", $("#caption-beam").value);
  form.append("return_attention", "true");
  submit(
    panel,
    () => call("v1/caption", { form }),
    (body) => {
      const image = $("#photo-image");
      if (image.src) URL.revokeObjectURL(image.src);
      image.src = URL.createObjectURL(file);
      const buttons = body.attention.map((item) => {
        const title = item.word === "</s>" ? "end of the caption: where the model looked when it stopped" : "";
        const button = element("button", { text: item.word, title });
        button.type = "button";
        button.addEventListener("click", () => {
          buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
          drawOverlay(body.grid, item.weights);
        });
        return button;
      });
      $("#caption-words").replaceChildren(...buttons);
      $("#caption-words").title = body.caption;
      buttons[0]?.click();
    },
  );
}

function watchUploads() {
  const input = $("#caption-file");
  const zone = $("#drop-zone");
  input.addEventListener("change", () => input.files[0] && caption(input.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) caption(file);
  });
}

// ---- start -------------------------------------------------------------------------------------------

$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  setToken($("#token-input").value);
  await loadService();
});
$("#translate-form").addEventListener("submit", translate);
$("#classify-form").addEventListener("submit", classify);
$("#summarize-form").addEventListener("submit", summarize);
$("#caption-form").addEventListener("submit", (event) => event.preventDefault());
showTabs();
watchUploads();
select(location.hash.slice(1));
loadService();
