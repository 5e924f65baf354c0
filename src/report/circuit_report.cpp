// The counting-circuit sections of a report: activation patching, attribution patching against
// exact patching, ablations, direct attribution, attention patterns of the top heads, head
// pattern scores, the circuit graph and its faithfulness curve.
#include <algorithm>
#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/report/charts.hpp"
#include "patchbay/report/figures.hpp"
#include "report_sections.hpp"

namespace patchbay::report_detail {
namespace {

constexpr std::int64_t kMaxHeadRows = 16;  // rows of a (head x position) heatmap


// Position labels: "index token" from the example clean prompt when its length matches.
std::vector<std::string> position_labels(const H5Reader& in, std::int64_t n) {
  std::vector<std::string> tokens;
  if (in.has("examples/clean/tokens")) tokens = in.read_strings("examples/clean/tokens");
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back(static_cast<std::int64_t>(tokens.size()) == n ? fmt::format("{} {}", i, tokens[static_cast<std::size_t>(i)])
                                                               : std::to_string(i));
  return out;
}

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
// with a non-zero value; the title says so.
std::string effect_heatmap(const H5Reader& in, at::Tensor effect, const std::vector<std::string>& axes, std::string title) {
  const auto layers = numbered(effect.size(0));
  if (axes == std::vector<std::string>{"layer", "head"}) return heatmap_svg(effect, layers, numbered(effect.size(1)), title, "layer", "head");
  const bool by_position = axes == std::vector<std::string>{"layer", "position"} || axes == std::vector<std::string>{"layer", "head", "position"};
  if (!by_position)
    fail<FormatError>("'{}': cannot draw an effect with axes [{}] (expected layer and head and/or position)", in.path(), fmt::join(axes, ", "));
  auto labels = position_labels(in, effect.size(-1));
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

// The axes of a patching group's effect (its metric's, after the pair axis).
std::vector<std::string> effect_axes(const H5Reader& in, const std::string& group) {
  return in.axes(group + "/effect");
}

void add_patching(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  // sweep name -> directions present
  std::map<std::string, std::vector<std::string>> sweeps;
  for (const auto& d : in.datasets())
    if (d.starts_with("patching/") && d.ends_with("/effect")) {
      const auto rest = d.substr(9, d.size() - 9 - 7);  // NAME/DIRECTION
      const auto slash = rest.find('/');
      if (slash != std::string::npos) sweeps[rest.substr(0, slash)].push_back(rest.substr(slash + 1));
    }
  if (sweeps.empty()) return;
  auto& s = doc.section("Activation patching");
  s.paragraph("Each cell is the normalised effect of patching one component: (patched - corrupted) / (clean - corrupted) of the "
              "probe's logit difference, averaged over pairs. Clean into corrupted (denoising): 1 means this component alone "
              "restores the clean answer. Corrupted into clean (noising): 0 means patching it destroys the clean answer. "
              "Blue is positive, red negative, white zero; hover over a cell for its value.");
  // Head outputs first, then what they read (q, k, v, pattern), then the residual stream by
  // position, then heads by position; sweeps this list does not know come last, by name.
  static const std::vector<std::string> known = {"z_layer_head", "q_layer_head", "k_layer_head", "v_layer_head", "pattern_layer_head",
                                                 "resid_pre_layer_position", "attn_out_layer_position", "mlp_out_layer_position",
                                                 "z_layer_head_position"};
  std::vector<std::string> order;
  for (const auto& [name, dirs] : sweeps) order.push_back(name);
  auto rank = [](const std::string& n) { return std::find(known.begin(), known.end(), n) - known.begin(); };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const auto& name : order) {
    html::Choice choice{.label = name + ":"};
    for (const auto& dir : sweeps[name]) {
      const auto group = fmt::format("patching/{}/{}", name, dir);
      const auto axes = effect_axes(in, group);
      const auto effect = read_checked(in, group + "/effect", static_cast<std::int64_t>(axes.size()));
      const auto description = in.attribute("description", group).value_or(name);
      std::string direction = dir;
      std::replace(direction.begin(), direction.end(), '_', ' ');
      choice.options.push_back({direction, {.name = prefix + "patching_" + name + "_" + dir,
                                            .caption = fmt::format("{}, {}; dataset {}.", description, direction, group),
                                            .svg = effect_heatmap(in, effect, axes, fmt::format("{} ({})", description, direction))}});
    }
    // Denoising first: it is the direction the circuit graph is built from.
    std::stable_sort(choice.options.begin(), choice.options.end(),
                     [](const auto& a, const auto& b) { return a.first.starts_with("clean") && !b.first.starts_with("clean"); });
    s.choice(std::move(choice));
  }
}

void add_attribution(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const std::string group = "attribution/heads_by_position";
  if (!in.has(group + "/effect")) return;
  const auto axes = effect_axes(in, group);
  const auto effect = read_checked(in, group + "/effect", static_cast<std::int64_t>(axes.size()));
  auto& s = doc.section("Attribution patching");
  const auto r = in.numeric_attribute("correlation_with_patching", group);
  const std::string correlation = r ? fmt::format("{:.3f}", *r) : "n/a";
  s.paragraph(fmt::format("Attribution patching estimates every patch from one forward and one backward pass (a first-order "
                          "Taylor expansion). Correlation with exact patching of the same components: {}.", correlation));
  s.figure({.name = prefix + "attribution_heads_by_position",
            .caption = "Attribution-patching estimate of the normalised effect of each head's output (hook_z) at each position, clean into corrupted.",
            .svg = effect_heatmap(in, effect, axes, "Attribution patching: heads by position (clean into corrupted)")});
  const std::string exact_name = "patching/z_layer_head_position/clean_into_corrupted/effect";
  if (!in.has(exact_name)) return;
  const auto exact = read_checked(in, exact_name, 3).to(at::kDouble).contiguous();
  if (exact.sizes() != effect.sizes())
    fail<FormatError>("'{}': {} has shape {} but the attribution {}", in.path(), exact_name, exact.sizes(), effect.sizes());
  const auto estimate = effect.to(at::kDouble).contiguous();
  ChartSeries points{.name = "component (head, position)", .colour = "#4477AA", .line = false, .marker_radius = 3};
  const auto L = exact.size(0), H = exact.size(1), P = exact.size(2);
  const auto tokens = position_labels(in, P);
  std::int64_t both_zero = 0;
  auto e = exact.accessor<double, 3>();
  auto a = estimate.accessor<double, 3>();
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t p = 0; p < P; ++p) {
        // Patches that cannot change the metric are exactly zero in both; they would pile up at the origin.
        if (e[l][h][p] == 0 && a[l][h][p] == 0) {
          ++both_zero;
          continue;
        }
        points.x.push_back(e[l][h][p]);
        points.y.push_back(a[l][h][p]);
        points.tooltips.push_back(fmt::format("{} at {}: exact {:.4g}, attribution {:.4g}", head_name(static_cast<int>(l), h),
                                              tokens[static_cast<std::size_t>(p)], e[l][h][p], a[l][h][p]));
      }
  if (points.x.empty()) return;
  s.figure({.name = prefix + "attribution_vs_patching",
            .caption = fmt::format("Each point is one (head, position): exact patching on x, attribution patching on y; the dashed "
                                   "line is y = x. {} components where both are exactly zero are not drawn.", both_zero),
            .svg = line_chart_svg({.title = fmt::format("Attribution against exact patching (correlation {})", correlation),
                                   .x_label = "exact patching effect",
                                   .y_label = "attribution patching estimate",
                                   .series = {std::move(points)},
                                   .identity_line = true})});
}

void add_ablations(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  std::vector<std::string> kinds, components;
  std::vector<at::Tensor> rows;
  for (const auto* kind : {"zero", "mean", "resample"}) {
    const auto g = fmt::format("ablation/{}", kind);
    if (!in.has(g + "/effect")) continue;
    auto names = in.read_strings(g + "/components");
    auto effect = read_checked(in, g + "/effect", 1);
    if (effect.numel() != static_cast<std::int64_t>(names.size()))
      fail<FormatError>("'{}': {}/effect has {} values for {} components", in.path(), g, effect.numel(), names.size());
    if (components.empty()) components = names;
    if (names != components) fail<FormatError>("'{}': {} ablates different components than the other ablations", in.path(), g);
    kinds.push_back(kind);
    rows.push_back(effect.to(at::kDouble));
  }
  if (kinds.empty()) return;
  doc.section("Ablation")
      .paragraph("Each component ablated alone on the clean prompts (zero: its output set to zero; mean: replaced by its mean over "
                 "the clean prompts; resample: taken from another prompt). Effect = (ablated - clean) / (clean - corrupted): "
                 "-1 means the ablation removes the whole clean-versus-corrupted difference.")
      .figure({.name = prefix + "ablation",
               .caption = "Normalised effect of ablating each attention head and MLP, one row per ablation kind.",
               .svg = heatmap_svg(at::stack(rows), kinds, components, "Ablation effect per component", "ablation", "component")});
}

void add_direct_attribution(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  if (!in.has("direct/clean/contributions") || !in.has("direct/corrupted/contributions")) return;
  const auto components = in.read_strings("direct/clean/components");
  const auto clean = read_checked(in, "direct/clean/contributions", 2).to(at::kDouble).mean(0);          // [component]
  const auto corrupted = read_checked(in, "direct/corrupted/contributions", 2).to(at::kDouble).mean(0);  // [component]
  if (clean.numel() != static_cast<std::int64_t>(components.size()) || corrupted.numel() != clean.numel())
    fail<FormatError>("'{}': direct attribution has {} clean and {} corrupted contributions for {} components", in.path(),
                      clean.numel(), corrupted.numel(), components.size());
  doc.section("Direct attribution")
      .paragraph("What each component writes directly onto the probe's logit-difference direction at the target position, "
                 "averaged over prompts; the parts sum to the metric.")
      .figure({.name = prefix + "direct_attribution",
               .caption = "Direct contribution of each component to the probe's logit difference: clean prompts, corrupted "
                          "prompts, and their difference.",
               .svg = heatmap_svg(at::stack({clean, corrupted, clean - corrupted}), {"clean", "corrupted", "clean - corrupted"},
                                  components, "Direct attribution to the probe direction", "prompts", "component")});
}

void add_attention(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  html::Choice choice{.label = "head and prompt:"};
  for (const auto* prompt : {"clean", "corrupted"}) {
    const auto g = fmt::format("examples/{}", prompt);
    if (!in.has(g + "/patterns")) continue;
    const auto tokens = in.read_strings(g + "/tokens");
    const auto heads = in.read_strings(g + "/heads");
    const auto patterns = read_checked(in, g + "/patterns", 3);  // [head, q, k]
    if (patterns.size(0) != static_cast<std::int64_t>(heads.size()))
      fail<FormatError>("'{}': {}/patterns has {} heads, {}/heads names {}", in.path(), g, patterns.size(0), g, heads.size());
    for (std::size_t i = 0; i < heads.size(); ++i)
      choice.options.push_back({fmt::format("{} on the {} prompt", heads[i], prompt),
                                {.name = fmt::format("{}attention_{}_{}", prefix, heads[i], prompt),
                                 .caption = fmt::format("Attention pattern of {} on the first {} prompt: row = query token, column = "
                                                        "key token, darker = more attention.", heads[i], prompt),
                                 .svg = attention_svg(patterns[static_cast<std::int64_t>(i)], tokens,
                                                      fmt::format("Attention pattern of {} ({} prompt)", heads[i], prompt))}});
  }
  auto& s = doc.section("Attention patterns of the top heads");
  if (choice.options.empty()) {
    s.paragraph("This file holds no attention examples (it was written before patchbay recorded them); re-run `patchbay discover` to get them.");
    return;
  }
  s.paragraph("The heads with the largest exact-patching effect, on the first pair's clean and corrupted prompts.");
  s.choice(std::move(choice));
}

void add_head_scores(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  if (!in.has("heads/scores")) return;
  const auto scores = read_checked(in, "heads/scores", 3);  // [layer, head, pattern]
  const auto patterns = in.read_strings("heads/patterns");
  if (scores.size(2) != static_cast<std::int64_t>(patterns.size()))
    fail<FormatError>("'{}': heads/scores has {} patterns, heads/patterns names {}", in.path(), scores.size(2), patterns.size());
  html::Choice choice{.label = "pattern:"};
  for (std::size_t i = 0; i < patterns.size(); ++i)
    choice.options.push_back({patterns[i], {.name = prefix + "head_scores_" + patterns[i],
                                            .caption = fmt::format("Mean attention each head pays to '{}' positions on word-index "
                                                                   "prompts (white where the pattern never applies).", patterns[i]),
                                            .svg = heatmap_svg(scores.select(2, static_cast<std::int64_t>(i)), numbered(scores.size(0)),
                                                               numbered(scores.size(1)), "Head score: " + patterns[i], "layer", "head")}});
  doc.section("Attention-pattern scores").choice(std::move(choice));
}

void add_graph(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  if (!in.has("graph/nodes/name")) return;
  const auto graph = CircuitGraph::read(in);
  auto& s = doc.section("Circuit graph");
  s.paragraph(fmt::format("Edges scored by {}; the {} highest-scoring edges kept (greedily from the read-out), {} of {} nodes. "
                          "Metric: {}. Embeddings at the bottom, the probe's read-out at the top; edge width by |score|, blue "
                          "positive, red negative; hover over a node or edge for its scores.",
                          graph.info().method, graph.kept_edges(), graph.kept_nodes(), graph.num_nodes(), graph.info().metric));
  s.figure({.name = prefix + "graph", .caption = "The kept circuit, laid out by layer.",
            .svg = graph_svg(graph, fmt::format("Circuit ({}, top {} edges)", graph.info().method, graph.kept_edges()))});
  html::Table t{.header = {"edge", "score"}};
  for (const auto& [from, to, score] : graph.top_edges(15, true)) t.rows.push_back({from + " -> " + to, fmt::format("{:+.5f}", score)});
  s.table(std::move(t));

  if (!in.has("graph/faithfulness/value")) return;
  const auto edges = in.read_doubles("graph/faithfulness/edges"), nodes = in.read_doubles("graph/faithfulness/nodes"),
             value = in.read_doubles("graph/faithfulness/value");
  if (edges.size() != value.size() || nodes.size() != value.size())
    fail<FormatError>("'{}': graph/faithfulness has {} edge counts, {} node counts and {} values", in.path(), edges.size(), nodes.size(), value.size());
  ChartSeries curve{.name = "circuit", .colour = "#4477AA", .x = edges, .y = value};
  for (std::size_t i = 0; i < value.size(); ++i)
    curve.tooltips.push_back(fmt::format("{:g} edges, {:g} nodes: faithfulness {:.4f}", edges[i], nodes[i], value[i]));
  s.figure({.name = prefix + "faithfulness",
            .caption = "Faithfulness of the top-k-edge circuit: every edge outside it is patched to its corrupted value, and "
                       "(circuit metric - corrupted) / (clean - corrupted) is plotted against the number of edges kept.",
            .svg = line_chart_svg({.title = "Faithfulness against circuit size",
                                   .x_label = "edges kept (log scale)",
                                   .y_label = "faithfulness",
                                   .series = {std::move(curve)},
                                   .references = {{"full model", 1.0, "#228833"}, {"corrupted run", 0.0, "#999999"}},
                                   .log_x = true})});
}

void add_direction_ablation(html::Document& doc, const H5Reader& in) {
  if (!in.has("direction_ablation/loss")) return;
  html::Table t{.header = {"measure", "value"}};
  for (const auto* name : {"loss", "loss_ablated", "loss_random", "kl_ablated", "kl_random"})
    if (in.has(std::string("direction_ablation/") + name))
      t.rows.push_back({name, fmt::format("{:.5f}", read_checked(in, std::string("direction_ablation/") + name, 0).item<double>())});
  doc.section("Ablating the probe directions")
      .paragraph("The language-modelling loss on general text with the probe's directions projected out of the residual stream, "
                 "against projecting out as many random directions: how much the model uses what the probe reads.")
      .table(std::move(t));
}

}  // namespace

void add_counting_circuit_sections(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto summary = json_attribute(in, "summary");
  auto& s = doc.section(fmt::format("Counting circuit ({})", in.attribute("model").value_or("model")));
  if (summary.is_object())
    s.paragraph(fmt::format("{} token-aligned prompt pairs. Metric: {}. Mean metric on clean prompts {:.4f}, on corrupted prompts "
                            "{:.4f}. Edge method: {}.",
                            summary.value("pairs", 0), summary.value("metric", std::string("?")), summary.value("clean_metric", 0.0),
                            summary.value("corrupted_metric", 0.0), summary.value("method", std::string("?"))));
  add_patching(doc, in, prefix);
  add_attribution(doc, in, prefix);
  add_ablations(doc, in, prefix);
  add_direct_attribution(doc, in, prefix);
  add_attention(doc, in, prefix);
  add_head_scores(doc, in, prefix);
  add_graph(doc, in, prefix);
  add_direction_ablation(doc, in);
}

}  // namespace patchbay::report_detail
