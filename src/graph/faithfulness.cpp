#include "patchbay/graph/faithfulness.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <ATen/ATen.h>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/warnings.hpp"
#include "patchbay/patching/circuit_metric.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/positional_edges.hpp"

namespace patchbay {

const std::vector<double>& mib_edge_fractions() {
  static const std::vector<double> fractions{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0};
  return fractions;
}

std::vector<NamedAblation> circuit_ablations(std::uint64_t seed) {
  return {{"zero", {.kind = AblationKind::Zero}},
          {"mean", {.kind = AblationKind::Mean}},
          {"mean-positional", {.kind = AblationKind::Mean, .per_position = true}},
          {"resample", {.kind = AblationKind::Resample, .seed = seed}},
          {"corrupted", {.kind = AblationKind::Corrupted}}};
}

NamedAblation parse_circuit_ablation(const std::string& name, std::uint64_t seed) {
  for (auto& a : circuit_ablations(seed))
    if (a.name == name) return a;
  fail<InputError>("unknown ablation '{}': expected zero, mean, mean-positional, resample or corrupted", name);
}

CurveAreas curve_areas(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) fail<InputError>("curve areas need at least two (fraction, faithfulness) points, got {} and {}", x.size(), y.size());
  CurveAreas a;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double width = x[i + 1] - x[i];
    if (!(width > 0)) fail<InputError>("curve areas need ascending fractions, got {} then {}", x[i], x[i + 1]);
    a.cpr += width * (y[i] + y[i + 1]) / 2;
    a.cmd += width * (std::abs(1 - y[i]) + std::abs(1 - y[i + 1])) / 2;
  }
  return a;
}

std::size_t Faithfulness::ablation_index(const std::string& name) const {
  const auto it = std::find(ablations.begin(), ablations.end(), name);
  if (it == ablations.end()) fail<InputError>("no faithfulness under ablation '{}' was recorded", name);
  return static_cast<std::size_t>(it - ablations.begin());
}

namespace {

// The graph's kept edges as a [sender, receiver] mask in the frame's order (edge_frame).
at::Tensor kept_mask(const CircuitGraph& graph, const EdgeScores& frame) {
  std::map<std::string, std::int64_t> sender, receiver;
  for (std::size_t i = 0; i < frame.senders.size(); ++i) sender[frame.senders[i]] = static_cast<std::int64_t>(i);
  for (std::size_t i = 0; i < frame.receivers.size(); ++i) receiver[frame.receivers[i]] = static_cast<std::int64_t>(i);
  auto mask = at::zeros(frame.valid.sizes(), at::kBool);
  for (const auto& [from, to, score] : graph.top_edges(graph.num_edges(), /*kept_only=*/true)) {
    const auto s = sender.find(from), r = receiver.find(to);
    if (s == sender.end() || r == receiver.end()) fail<InputError>("the graph's edge {}->{} is not an edge of the model's layout", from, to);
    mask[s->second][r->second] = true;
  }
  return mask;
}

// Why faithfulness under one ablation means little, or empty: its denominator m(full) - m(empty)
// judged as the clean - corrupted difference is (metric_separation).
std::string separation_warning(const Metric& metric, const std::string& ablation, const at::Tensor& full, const at::Tensor& empty) {
  const auto s = metric_separation(metric, full, empty);
  if (s.separated) return {};
  const bool wrong_way = !(s.difference * metric.clean_sign() > 0);
  return fmt::format("faithfulness under {} ablation: m(full) = {:.4g} and m(empty) = {:.4g} {}: its values mean {}", ablation, s.clean,
                     s.corrupted, wrong_way ? "point the wrong way for the metric" : fmt::format("differ by less than twice the standard error ({:.4g})", s.standard_error),
                     wrong_way ? "nothing" : "little");
}

struct Sized {
  double fraction;
  bool graph_size;
  CircuitGraph graph;
};

// The circuits to evaluate, in ascending fraction: one per fraction, and the graph as given.
std::vector<Sized> circuits_to_evaluate(const CircuitGraph& graph, const FaithfulnessOptions& o) {
  const auto total = graph.num_edges();
  std::vector<Sized> out;
  for (double f : o.fractions) {
    if (!(f > 0 && f <= 1)) fail<InputError>("faithfulness fractions must lie in (0, 1], got {}", f);
    CircuitGraph g = graph;
    g.keep_top_k(static_cast<std::size_t>(f * static_cast<double>(total)));  // MIB: int(fraction * edges)
    out.push_back({f, false, std::move(g)});
  }
  if (o.with_graph_size) out.push_back({static_cast<double>(graph.kept_edges()) / static_cast<double>(total), true, graph});
  std::stable_sort(out.begin(), out.end(), [](const Sized& a, const Sized& b) { return a.fraction < b.fraction; });
  return out;
}

}  // namespace

Faithfulness faithfulness(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const CircuitGraph& graph,
                          const FaithfulnessOptions& o) {
  if (graph.info().readout_layer != metric.layer())
    fail<InputError>("the graph reads out at layer {} but the metric at layer {}", graph.info().readout_layer, metric.layer());
  if (o.ablations.empty()) fail<InputError>("faithfulness needs at least one ablation");
  const auto frame = edge_frame(edge_layout(model.config(), metric.layer()), o.spans.value_or(SpanSchema{}), metric.layer());
  const CircuitMetricOptions by_span{.spans = o.spans};
  auto mean_metric = [&](const at::Tensor& kept, const AblationOptions& a) {
    return circuit_metric(model, pairs, metric, kept, a, by_span).mean().item<double>();
  };
  const auto all = frame.valid, none = at::zeros_like(all);
  Faithfulness f;
  const auto full = circuit_metric(model, pairs, metric, all, {}, by_span);  // [pair]: nothing ablated, the same for every ablation
  for (const auto& a : o.ablations) {
    const auto empty = circuit_metric(model, pairs, metric, none, a.options, by_span);  // [pair]
    f.ablations.push_back(a.name);
    f.full.push_back(full.mean().item<double>());
    f.empty.push_back(empty.mean().item<double>());
    f.warnings.push_back(separation_warning(metric, a.name, full, empty));
    if (!f.warnings.back().empty()) warn(f.warnings.back());
  }
  for (auto& c : circuits_to_evaluate(graph, o)) {
    FaithfulnessPoint p{c.fraction, c.graph.kept_edges(), c.graph.kept_nodes(), c.graph_size, {}};
    const auto kept = kept_mask(c.graph, frame);
    for (std::size_t i = 0; i < o.ablations.size(); ++i)
      p.value.push_back((mean_metric(kept, o.ablations[i].options) - f.empty[i]) / (f.full[i] - f.empty[i]));
    f.points.push_back(std::move(p));
  }
  for (std::size_t i = 0; i < o.ablations.size(); ++i) {
    std::vector<double> x, y;
    for (const auto& p : f.points)
      if (!p.graph_size) {
        x.push_back(p.fraction);
        y.push_back(p.value[i]);
      }
    f.areas.push_back(x.size() >= 2 ? curve_areas(x, y) : CurveAreas{NAN, NAN});
  }
  return f;
}

}  // namespace patchbay
