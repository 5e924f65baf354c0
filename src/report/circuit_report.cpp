// The counting-circuit sections of a report: activation patching, attribution patching against
// exact patching, ablations, direct attribution, attention patterns of the top heads, head
// pattern scores, the circuit graph and its faithfulness curve.
#include <algorithm>
#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/analysis/analysis_io.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/graph/method_comparison.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/graph/ground_truth.hpp"
#include "patchbay/patching/spans.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/patch_io.hpp"
#include "patchbay/report/charts.hpp"
#include "patchbay/report/figures.hpp"
#include "report_sections.hpp"

namespace patchbay::report_detail {
namespace {

constexpr std::int64_t kMaxHeadRows = 16;  // rows of a (head x position) heatmap


// Position labels "index token" from the example clean prompt (none without examples).
std::vector<std::string> position_labels(const std::vector<AttentionExample>& examples) {
  std::vector<std::string> out;
  if (examples.empty()) return out;
  for (std::size_t i = 0; i < examples.front().tokens.size(); ++i) out.push_back(fmt::format("{} {}", i, examples.front().tokens[i]));
  return out;
}

std::vector<std::string> without_pair(const std::vector<std::string>& axes) { return {axes.begin() + 1, axes.end()}; }

// The rows of a [layer, head, position] effect that matter most: the heads with the largest
// |effect| at any position, as a [rows, position] table with "a{l}.h{h}" labels.
std::pair<at::Tensor, std::vector<std::string>> top_head_rows(const at::Tensor& effect) {
  const auto L = effect.size(0), H = effect.size(1);
  auto flat = effect.reshape({L * H, effect.size(2)});                           // [layer * head, position]
  auto peak = flat.nan_to_num(0, 0, 0).abs().amax(1);                            // [layer * head]
  auto order = std::get<0>(std::get<1>(peak.topk(std::min(kMaxHeadRows, L * H))).sort());  // model order
  std::vector<std::string> labels;
  for (std::int64_t i = 0; i < order.size(0); ++i) {
    const auto k = order[i].item<std::int64_t>();
    labels.push_back(head_name(static_cast<int>(k / H), k % H));
  }
  return {flat.index_select(0, order), labels};
}

// Leading positions where every value is exactly zero: the shared prefix of clean and
// corrupted prompts, where no patch can change anything. Returns the first position to show.
std::int64_t first_nonzero_position(const at::Tensor& effect) {  // effect: [..., position]
  auto any = effect.reshape({-1, effect.size(-1)}).ne(0).any(0);  // [position]
  auto nonzero = any.nonzero();
  return nonzero.size(0) == 0 ? 0 : nonzero[0][0].item<std::int64_t>();
}

// A heatmap of an effect tensor whose axes are named by the file: [layer, head],
// [layer, position] or [layer, head, position]. Position axes start at the first position
// with a non-zero value; the title says so. Positions are labelled by `position_names` when
// there is one per position, else numbered.
std::string effect_heatmap(const H5Reader& in, const std::vector<std::string>& position_names, at::Tensor effect,
                           const std::vector<std::string>& axes, std::string title) {
  const auto layers = numbered(effect.size(0));
  if (axes == std::vector<std::string>{"layer", "head"}) return heatmap_svg(effect, layers, numbered(effect.size(1)), title, "layer", "head");
  const bool by_position = axes == std::vector<std::string>{"layer", "position"} || axes == std::vector<std::string>{"layer", "head", "position"};
  if (!by_position)
    fail<FormatError>("'{}': cannot draw an effect with axes [{}] (expected layer and head and/or position)", in.path(), fmt::join(axes, ", "));
  auto labels = static_cast<std::int64_t>(position_names.size()) == effect.size(-1) ? position_names : numbered(effect.size(-1));
  const auto first = first_nonzero_position(effect);
  if (first > 0) {
    effect = effect.narrow(-1, first, effect.size(-1) - first);
    labels.erase(labels.begin(), labels.begin() + first);
    title += fmt::format("; positions before {} are exactly 0, not shown", first);
  }
  if (axes.size() == 2) return heatmap_svg(effect, layers, labels, title, "layer", "position");
  auto [rows, heads] = top_head_rows(effect);
  return heatmap_svg(rows, heads, labels, title + fmt::format("; top {} heads", heads.size()), "head", "position");
}

void add_patching(html::Document& doc, const H5Reader& in, const std::vector<PatchResult>& results,
                  const std::vector<std::string>& positions, const std::string& prefix) {
  if (results.empty()) return;
  auto& s = doc.section("Activation patching");
  s.paragraph("Each cell is the normalised effect of patching one component: (patched - corrupted) / (clean - corrupted) of the "
              "metric, averaged over pairs. Clean into corrupted (denoising): 1 means this component alone "
              "restores the clean answer. Corrupted into clean (noising): 0 means patching it destroys the clean answer. "
              "Blue is positive, red negative, white zero; hover over a cell for its value.");
  // Head outputs first, then what they read (q, k, v, pattern), then the residual stream by
  // position, then heads by position; sweeps this list does not know come last, by name.
  static const std::vector<std::string> known = {"z_layer_head", "q_layer_head", "k_layer_head", "v_layer_head", "pattern_layer_head",
                                                 "resid_pre_layer_position", "attn_out_layer_position", "mlp_out_layer_position",
                                                 "z_layer_head_position"};
  std::map<std::string, std::vector<const PatchResult*>> sweeps;
  for (const auto& r : results) sweeps[r.sweep.short_name()].push_back(&r);
  std::vector<std::string> order;
  for (const auto& [name, dirs] : sweeps) order.push_back(name);
  auto rank = [](const std::string& n) { return std::find(known.begin(), known.end(), n) - known.begin(); };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const auto& name : order) {
    html::Choice choice{.label = name + ":"};
    // Denoising first: it is the direction the circuit graph is built from.
    std::stable_sort(sweeps[name].begin(), sweeps[name].end(),
                     [](const auto* a, const auto* b) { return a->direction == PatchDirection::CleanIntoCorrupted && b->direction != a->direction; });
    for (const auto* r : sweeps[name]) {
      const std::string dir = to_string(r->direction);
      std::string direction = dir;
      std::replace(direction.begin(), direction.end(), '_', ' ');
      const auto description = r->sweep.describe();
      choice.options.push_back({direction, {.name = prefix + "patching_" + name + "_" + dir,
                                            .caption = fmt::format("{}, {}; dataset patching/{}/{}.", description, direction, name, dir),
                                            .svg = effect_heatmap(in, positions, r->effect(), without_pair(r->axes),
                                                                  fmt::format("{} ({})", description, direction))}});
    }
    s.choice(std::move(choice));
  }
}

// Exact against estimated effect of one [layer, head, position] sweep, one point per component.
ChartSeries exact_vs_estimate(const at::Tensor& exact_effect, const at::Tensor& estimate_effect, const std::vector<std::string>& positions,
                              std::int64_t& both_zero) {
  const auto exact = exact_effect.to(at::kDouble).contiguous(), estimate = estimate_effect.to(at::kDouble).contiguous();
  ChartSeries points{.name = "component (head, position)", .colour = "#4477AA", .line = false, .marker_radius = 3};
  auto e = exact.accessor<double, 3>();
  auto a = estimate.accessor<double, 3>();
  for (std::int64_t l = 0; l < exact.size(0); ++l)
    for (std::int64_t h = 0; h < exact.size(1); ++h)
      for (std::int64_t p = 0; p < exact.size(2); ++p) {
        // Patches that cannot change the metric are exactly zero in both; they would pile up at the origin.
        if (e[l][h][p] == 0 && a[l][h][p] == 0) {
          ++both_zero;
          continue;
        }
        points.x.push_back(e[l][h][p]);
        points.y.push_back(a[l][h][p]);
        points.tooltips.push_back(fmt::format("{} at {}: exact {:.4g}, attribution {:.4g}", head_name(static_cast<int>(l), h),
                                              positions[static_cast<std::size_t>(p)], e[l][h][p], a[l][h][p]));
      }
  return points;
}

void add_one_attribution(html::Section& s, const H5Reader& in, const AttributionResult& a, const std::vector<PatchResult>& patching,
                         const std::vector<std::string>& positions, const std::string& prefix) {
  const auto effect = a.estimate.effect();
  const auto name = a.estimate.sweep.short_name();
  const std::string correlation = std::isfinite(a.correlation_with_patching) ? fmt::format("{:.3f}", a.correlation_with_patching) : "n/a";
  s.figure({.name = prefix + "attribution_" + name,
            .caption = fmt::format("Attribution-patching estimate of the normalised effect of each component ({}), clean into corrupted; "
                                   "correlation with exact patching {}.", a.estimate.sweep.describe(), correlation),
            .svg = effect_heatmap(in, positions, effect, without_pair(a.estimate.axes),
                                  fmt::format("Attribution patching: {} (clean into corrupted)", a.estimate.sweep.describe()))});
  const auto exact = std::find_if(patching.begin(), patching.end(), [&](const PatchResult& p) {
    return p.sweep == a.estimate.sweep && p.direction == PatchDirection::CleanIntoCorrupted;
  });
  if (exact == patching.end() || effect.dim() != 3) return;
  if (exact->metric.sizes() != a.estimate.metric.sizes())
    fail<FormatError>("'{}': the exact sweep {} has shape {} but its attribution estimate {}", in.path(), name, exact->metric.sizes(),
                      a.estimate.metric.sizes());
  std::int64_t both_zero = 0;
  const auto labels = static_cast<std::int64_t>(positions.size()) == effect.size(2) ? positions : numbered(effect.size(2));
  auto points = exact_vs_estimate(exact->effect(), effect, labels, both_zero);
  if (points.x.empty()) return;
  s.figure({.name = prefix + "attribution_vs_patching" + (name == "z_layer_head_position" ? "" : "_" + name),
            .caption = fmt::format("Each point is one (head, position): exact patching on x, attribution patching on y; the dashed "
                                   "line is y = x. {} components where both are exactly zero are not drawn.", both_zero),
            .svg = line_chart_svg({.title = fmt::format("Attribution against exact patching (correlation {})", correlation),
                                   .x_label = "exact patching effect",
                                   .y_label = "attribution patching estimate",
                                   .series = {std::move(points)},
                                   .identity_line = true})});
}

void add_attribution(html::Document& doc, const H5Reader& in, const std::vector<PatchResult>& patching,
                     const std::vector<std::string>& positions, const std::string& prefix) {
  const auto attributions = read_attributions(in);
  if (attributions.empty()) return;
  auto& s = doc.section("Attribution patching");
  s.paragraph("Attribution patching estimates every patch from one forward and one backward pass (a first-order Taylor "
              "expansion); each figure gives its correlation with exact patching of the same components.");
  for (const auto& a : attributions) add_one_attribution(s, in, a, patching, positions, prefix);
}

void add_ablations(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto ablations = read_ablations(in);
  if (ablations.empty()) return;
  std::vector<std::string> kinds;
  std::vector<at::Tensor> rows;
  for (const auto& a : ablations) {
    if (a.components != ablations.front().components)
      fail<FormatError>("'{}': ablation/{} ablates different components than the other ablations", in.path(), to_string(a.options.kind));
    kinds.push_back(to_string(a.options.kind));
    rows.push_back(a.effect().to(at::kDouble));
  }
  doc.section("Ablation")
      .paragraph("Each component ablated alone on the clean prompts (zero: its output set to zero; mean: replaced by its mean over "
                 "the clean prompts; resample: taken from another prompt). Effect = (ablated - clean) / (clean - corrupted): "
                 "-1 means the ablation removes the whole clean-versus-corrupted difference.")
      .figure({.name = prefix + "ablation",
               .caption = "Normalised effect of ablating each attention head and MLP, one row per ablation kind.",
               .svg = heatmap_svg(at::stack(rows), kinds, ablations.front().components, "Ablation effect per component", "ablation", "component")});
}

void add_direct_attribution(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto clean_run = read_direct_attribution(in, "clean"), corrupted_run = read_direct_attribution(in, "corrupted");
  if (!clean_run || !corrupted_run) return;
  if (clean_run->components != corrupted_run->components)
    fail<FormatError>("'{}': direct/clean and direct/corrupted attribute to different components", in.path());
  const auto clean = clean_run->contributions.to(at::kDouble).mean(0);          // [component]
  const auto corrupted = corrupted_run->contributions.to(at::kDouble).mean(0);  // [component]
  doc.section("Direct attribution")
      .paragraph("What each component writes directly onto the metric's direction at the target position, "
                 "averaged over prompts; the parts sum to the metric.")
      .figure({.name = prefix + "direct_attribution",
               .caption = "Direct contribution of each component to the metric: clean prompts, corrupted "
                          "prompts, and their difference.",
               .svg = heatmap_svg(at::stack({clean, corrupted, clean - corrupted}), {"clean", "corrupted", "clean - corrupted"},
                                  clean_run->components, "Direct attribution to the metric direction", "prompts", "component")});
}

void add_attention(html::Document& doc, const std::vector<AttentionExample>& examples, const std::string& prefix) {
  html::Choice choice{.label = "head and prompt:"};
  for (const auto& e : examples)
    for (std::size_t i = 0; i < e.heads.size(); ++i)
      choice.options.push_back({fmt::format("{} on the {} prompt", e.heads[i], e.prompt),
                                {.name = fmt::format("{}attention_{}_{}", prefix, e.heads[i], e.prompt),
                                 .caption = fmt::format("Attention pattern of {} on the first {} prompt: row = query token, column = "
                                                        "key token, darker = more attention.", e.heads[i], e.prompt),
                                 .svg = attention_svg(e.patterns[static_cast<std::int64_t>(i)], e.tokens,
                                                      fmt::format("Attention pattern of {} ({} prompt)", e.heads[i], e.prompt))}});
  auto& s = doc.section("Attention patterns of the top heads");
  if (choice.options.empty()) {
    s.paragraph("This file holds no attention examples (it was written before patchbay recorded them); re-run `patchbay discover` to get them.");
    return;
  }
  s.paragraph("The heads with the largest exact-patching effect, on the first pair's clean and corrupted prompts.");
  s.choice(std::move(choice));
}

void add_head_scores(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto scores = read_head_scores(in);
  if (!scores) return;
  html::Choice choice{.label = "pattern:"};
  for (std::size_t i = 0; i < scores->patterns.size(); ++i) {
    const auto& pattern = scores->patterns[i];
    choice.options.push_back({pattern, {.name = prefix + "head_scores_" + pattern,
                                        .caption = fmt::format("Mean attention each head pays to '{}' positions on word-index "
                                                               "prompts (white where the pattern never applies).", pattern),
                                        .svg = heatmap_svg(scores->scores.select(2, static_cast<std::int64_t>(i)), numbered(scores->scores.size(0)),
                                                           numbered(scores->scores.size(1)), "Head score: " + pattern, "layer", "head")}});
  }
  doc.section("Attention-pattern scores").choice(std::move(choice));
}

// One line per ablation (Paul Tol's bright scheme), faithfulness against the fraction of edges kept.
std::string faithfulness_svg(const Faithfulness& f) {
  static const char* kColours[] = {"#4477AA", "#EE6677", "#228833", "#CCBB44", "#AA3377", "#66CCEE"};
  std::vector<ChartSeries> series;
  for (std::size_t a = 0; a < f.ablations.size(); ++a) {
    ChartSeries line{.name = f.ablations[a], .colour = kColours[a % std::size(kColours)]};
    for (const auto& p : f.points) {
      line.x.push_back(p.fraction);
      line.y.push_back(p.value[a]);
      line.tooltips.push_back(fmt::format("{}: {:.3g}% of edges{} ({} edges, {} nodes): faithfulness {:.4f}", f.ablations[a], 100 * p.fraction,
                                          p.graph_size ? ", the graph's own size" : "", p.edges, p.nodes, p.value[a]));
    }
    series.push_back(std::move(line));
  }
  return line_chart_svg({.title = "Faithfulness against circuit size, per ablation",
                         .x_label = "fraction of edges kept (log scale)",
                         .y_label = "faithfulness",
                         .series = std::move(series),
                         .references = {{"full model", 1.0, "#228833"}, {"empty circuit", 0.0, "#999999"}},
                         .log_x = true});
}

void add_faithfulness(html::Section& s, const H5Reader& in, const std::string& prefix) {
  const auto f = read_faithfulness(in);
  if (f.empty_result()) return;
  s.figure({.name = prefix + "faithfulness",
            .caption = "Faithfulness of circuits kept greedily at fixed fractions of the edges (MIB's) and at the graph's own size: "
                       "every edge outside the circuit is ablated, and (m(circuit) - m(empty)) / (m(full) - m(empty)) is plotted, "
                       "one line per ablation. A circuit that holds up under one ablation and not another is not the mechanism.",
            .svg = faithfulness_svg(f)});
  const FaithfulnessPoint* own = nullptr;
  for (const auto& p : f.points)
    if (p.graph_size) own = &p;
  html::Table t{.header = {"ablation", "m(full)", "m(empty)", own ? fmt::format("faithfulness at {} edges", own->edges) : "faithfulness", "CPR", "CMD"}};
  auto number = [](double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string("nan"); };
  for (std::size_t a = 0; a < f.ablations.size(); ++a)
    t.rows.push_back({f.ablations[a], number(f.full[a]), number(f.empty[a]), own ? number(own->value[a]) : "-", number(f.areas[a].cpr),
                      number(f.areas[a].cmd)});
  for (const auto& w : f.warnings)
    if (!w.empty()) s.paragraph("Warning: " + w + ".");
  s.paragraph("CPR is the area under the faithfulness curve and CMD the area between it and 1, both over MIB's fractions "
              "(0.1% to 100%, trapezoids on a linear axis): higher CPR and lower CMD are better.");
  s.table(std::move(t));
}

// The method comparison: one row per edge-scoring method on the same pairs.
void add_method_comparison(html::Section& s, const H5Reader& in) {
  const auto c = read_method_comparison(in);
  if (c.empty()) return;
  auto number = [](double v) { return std::isfinite(v) ? fmt::format("{:.3f}", v) : std::string("-"); };
  html::Table t{.header = {"method", "edges", "nodes"}};
  for (const auto& a : c.ablations) t.header.push_back("faithfulness (" + a + ")");
  for (const auto& a : c.ablations) t.header.push_back("CPR / CMD (" + a + ")");
  t.header.insert(t.header.end(), {"node AUC", "edge AUC", "seconds"});
  for (const auto& row : c.rows) {
    std::vector<std::string> cells{row.method, std::to_string(row.edges), std::to_string(row.nodes)};
    for (double f : row.faithfulness) cells.push_back(number(f));
    for (std::size_t a = 0; a < c.ablations.size(); ++a) cells.push_back(number(row.cpr[a]) + " / " + number(row.cmd[a]));
    cells.insert(cells.end(), {number(row.node_roc_auc), number(row.edge_roc_auc), fmt::format("{:.1f}", row.seconds)});
    t.rows.push_back(std::move(cells));
  }
  s.paragraph("Edge-scoring methods compared on the same pairs and metric: each method's circuit of the same requested size, its "
              "faithfulness under each ablation, the areas of its faithfulness curves (higher CPR, lower CMD are better), the ROC AUC "
              "against the ground truth when one was given, and the time each took.");
  s.table(std::move(t));
}

void add_graph(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  if (!in.has("graph/nodes/name")) return;
  const auto graph = CircuitGraph::read(in);
  auto& s = doc.section("Circuit graph");
  s.paragraph(fmt::format("Edges scored by {}; the {} highest-scoring edges kept (greedily from the read-out), {} of {} nodes. "
                          "Metric: {}. Embeddings at the bottom, the metric's read-out at the top; edge width by |score|, blue "
                          "positive, red negative; hover over a node or edge for its scores.",
                          graph.info().method, graph.kept_edges(), graph.kept_nodes(), graph.num_nodes(), graph.info().metric));
  const auto spans = SpanSchema::read(in, "graph");
  if (!spans.empty()) {
    std::vector<std::string> ranges;
    for (const auto& r : spans.ranges.front()) ranges.push_back(fmt::format("{} (tokens {}-{})", r.name, r.first, r.last));
    s.paragraph(fmt::format("A position-aware graph: each node is a component at a span, drawn in that span's column; an edge runs "
                            "within a span or, into a head's keys and values, from an earlier span. Spans ({}; the first pair's "
                            "tokens): {}. {}",
                            spans.source, fmt::join(ranges, ", "),
                            graph.info().method == "path" ? "Scores are exact path patching of a span's tokens together."
                                                          : "EAP scores combine a span's tokens by " +
                                                                in.attribute("span_aggregation", "graph").value_or("?") + "."));
  }
  s.figure({.name = prefix + "graph", .caption = spans.empty() ? "The kept circuit, laid out by layer." : "The kept circuit: spans as columns, layers as rows.",
            .svg = graph_svg(graph, fmt::format("Circuit ({}, top {} edges)", graph.info().method, graph.kept_edges()))});
  html::Table t{.header = {"edge", "score"}};
  for (const auto& [from, to, score] : graph.top_edges(15, true)) t.rows.push_back({from + " -> " + to, fmt::format("{:+.5f}", score)});
  s.table(std::move(t));
  if (const auto auc = read_ground_truth_auc(in))
    s.paragraph(fmt::format("Against the known circuit in {}: node ROC AUC {:.4f}, edge ROC AUC {:.4f} (1 means every node or edge of "
                            "the circuit outscores every one outside it).", auc->ground_truth, auc->node_roc_auc, auc->edge_roc_auc));
  add_faithfulness(s, in, prefix);
  add_method_comparison(s, in);
}

void add_direction_ablation(html::Document& doc, const H5Reader& in) {
  const auto r = read_direction_ablation(in);
  if (!r) return;
  html::Table t{.header = {"measure", "value"}};
  for (const auto& [name, value] : {std::pair<const char*, double>{"loss", r->loss}, {"loss_ablated", r->loss_ablated}, {"loss_random", r->loss_random},
                                    {"kl_ablated", r->kl_ablated}, {"kl_random", r->kl_random}})
    t.rows.push_back({name, fmt::format("{:.5f}", value)});
  doc.section("Ablating the probe directions")
      .paragraph("The language-modelling loss on general text with the probe's directions projected out of the residual stream, "
                 "against projecting out as many random directions: how much the model uses what the probe reads.")
      .table(std::move(t));
}


// The metric and whether it tells the clean prompts from the corrupted ones, which every
// normalised effect divides by.
void add_metric_paragraph(html::Section& s, const H5Reader& in) {
  const auto m = read_metric_info(in);
  if (m.name.empty()) return;
  s.paragraph(fmt::format("Metric: {} ({}), read after block {}. Mean on clean prompts {:.4g}, on corrupted prompts {:.4g}.",
                          m.name, m.description, m.layer, m.separation.clean, m.separation.corrupted));
  if (!m.separation.separated) s.paragraph("Warning: " + m.separation.warning + ".");
}

// Patching, attribution, ablation and the circuit graph: the sections of any patching study.
void add_study_sections(html::Document& doc, const H5Reader& in, const std::vector<AttentionExample>& examples, const std::string& prefix) {
  const auto patching = read_patch_results(in);
  const auto positions = position_labels(examples);
  add_patching(doc, in, patching, positions, prefix);
  add_attribution(doc, in, patching, positions, prefix);
  add_ablations(doc, in, prefix);
  add_graph(doc, in, prefix);
}

}  // namespace

void add_patching_sections(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto summary = read_json_attribute(in, "summary");
  auto& s = doc.section(fmt::format("Patching study ({})", in.attribute("model").value_or("model")));
  const auto what = fmt::format("'{}': attribute 'summary'", in.path());
  if (summary.is_object()) s.paragraph(fmt::format("{} prompt pairs from a file.", json_field<std::int64_t>(summary, "pairs", 0, what)));
  add_metric_paragraph(s, in);
  add_study_sections(doc, in, {}, prefix);
}

void add_counting_circuit_sections(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto summary = read_json_attribute(in, "summary");
  const auto what = fmt::format("'{}': attribute 'summary'", in.path());
  auto& s = doc.section(fmt::format("Counting circuit ({})", in.attribute("model").value_or("model")));
  if (summary.is_object())
    s.paragraph(fmt::format("{} token-aligned prompt pairs. Metric: {}. Mean metric on clean prompts {:.4f}, on corrupted prompts "
                            "{:.4f}. Edge method: {}.",
                            json_field<std::int64_t>(summary, "pairs", 0, what), json_field<std::string>(summary, "metric", "?", what),
                            json_field<double>(summary, "clean_metric", 0.0, what), json_field<double>(summary, "corrupted_metric", 0.0, what),
                            json_field<std::string>(summary, "method", "?", what)));
  add_metric_paragraph(s, in);
  const auto examples = read_attention_examples(in);
  add_study_sections(doc, in, examples, prefix);
  add_direct_attribution(doc, in, prefix);
  add_attention(doc, examples, prefix);
  add_head_scores(doc, in, prefix);
  add_direction_ablation(doc, in);
}

}  // namespace patchbay::report_detail
