#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/experiments/counting_circuit.hpp"

#include <cmath>
#include <optional>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/discover_checkpoint.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/patching/path.hpp"

namespace patchbay {

EdgeMethod parse_edge_method(const std::string& name) {
  for (auto m : {EdgeMethod::Patch, EdgeMethod::Path, EdgeMethod::Eap, EdgeMethod::EapIg})
    if (name == to_string(m)) return m;
  fail<InputError>("unknown method '{}' (expected patch, path, eap or eap-ig)", name);
}

const char* to_string(EdgeMethod m) {
  switch (m) {
    case EdgeMethod::Patch: return "patch";
    case EdgeMethod::Path: return "path";
    case EdgeMethod::Eap: return "eap";
    case EdgeMethod::EapIg: return "eap-ig";
  }
  return "?";
}

nlohmann::json counting_circuit_config(const CountingCircuitOptions& o, const ProbeSource& probe) {
  return {{"clean_split", o.pairs.clean_split}, {"corrupted_split", o.pairs.corrupted_split},
          {"pairs", o.pairs.n_pairs},           {"prefix", o.pairs.prefix},
          {"bos", o.pairs.bos},                 {"seed", o.pairs.seed},
          {"dictionary", o.pairs.dictionary},   {"method", to_string(o.method)},
          {"ig_steps", o.ig_steps},             {"top_edges", o.top_edges},
          {"probe", probe.path},                {"probe_layer", probe.layer}};
}

const PatchResult& CountingCircuitResults::patch(const PatchSweep& sweep, PatchDirection direction) const {
  for (const auto& p : patching)
    if (p.sweep == sweep && p.direction == direction)
      return p;
  fail<InputError>("no patching sweep {} ({}) in these results", sweep.short_name(), to_string(direction));
}

PairOptions pair_options_for(const ProbeSource& probe) {
  PairOptions o;
  o.prefix = probe.dataset.prefix;
  o.bos = probe.dataset.bos;
  std::tie(o.clean_split, o.corrupted_split) = default_splits(probe.dataset.word_lengths);
  return o;
}

std::pair<std::vector<int>, std::vector<int>> default_splits(const std::vector<int>& lengths) {
  const int m = lengths.empty() ? 1 : *std::min_element(lengths.begin(), lengths.end());
  if (m == 1) return {{3, 1}, {1, 2, 1}};
  return {{2 * m, m}, {m, m, m}};
}

namespace {

// The sweeps `discover` runs, in both directions: the residual stream, attention and MLP
// outputs by position, heads, heads by position, and what heads read (q, k, v, pattern).
std::vector<PatchSweep> default_sweeps() {
  return {PatchSweep::resid_pre_by_position(), PatchSweep::attn_out_by_position(), PatchSweep::mlp_out_by_position(),
          PatchSweep::heads(),                 PatchSweep::heads_by_position(),    PatchSweep::head_site(Site::Q),
          PatchSweep::head_site(Site::K),      PatchSweep::head_site(Site::V),     PatchSweep::head_site(Site::Pattern)};
}

std::vector<PatchResult> patch_every_sweep(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                                           DiscoverCheckpoint* checkpoint) {
  std::vector<PatchResult> out;
  for (const auto& sweep : default_sweeps())
    for (auto direction : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean}) {
      if (auto done = checkpoint ? checkpoint->patch_result(sweep, direction) : std::nullopt) {
        out.push_back(std::move(*done));
        continue;
      }
      out.push_back(patch_sweep(model, pairs, metric, sweep, direction));
      if (checkpoint) checkpoint->save(out.back());
    }
  return out;
}

std::vector<AblationSweepResult> ablate_each_component(const Model& model, const std::vector<PromptPair>& pairs,
                                                       const ProbeLogitDiff& metric, const CountingCircuitOptions& o) {
  std::vector<AblationSweepResult> out;
  for (auto kind : {AblationKind::Zero, AblationKind::Mean, AblationKind::Resample}) {
    AblationOptions a = o.mean_ablation;
    a.kind = kind;
    a.seed = o.pairs.seed;
    out.push_back(ablation_sweep(model, pairs, metric, a));
  }
  return out;
}

// Attention-pattern scores on word-index prompts from the probe's distribution.
HeadScores score_heads(const Model& model, const ProbeSource& source, const CountingCircuitOptions& o) {
  WordIndexOptions wi;
  wi.prefix = o.pairs.prefix;
  wi.bos = o.pairs.bos;
  wi.seed = o.pairs.seed;
  wi.dictionary = o.pairs.dictionary;
  wi.unit_lengths = source.dataset.word_lengths;
  wi.train_points = 7;
  wi.val_prompts = o.head_score_prompts;
  return head_pattern_scores(model, WordIndexDataset::generate(model.tokenizer(), wi).val.prompts);
}

// Attention patterns of the heads with the largest exact-patching effect on the first pair.
std::vector<AttentionExample> top_head_examples(const Model& model, const CountingCircuitResults& r, int n_heads) {
  const auto H = model.config().n_heads;
  auto effect = r.patch(PatchSweep::heads(), PatchDirection::CleanIntoCorrupted).effect().abs().flatten();  // [layer * head]
  auto top = std::get<1>(effect.topk(std::min<std::int64_t>(n_heads, effect.numel())));
  std::vector<std::pair<int, std::int64_t>> heads;
  for (std::int64_t i = 0; i < top.size(0); ++i) heads.emplace_back(static_cast<int>(top[i].item<std::int64_t>() / H), top[i].item<std::int64_t>() % H);
  return {attention_example(model, r.pairs.front().clean.tokens, heads, "clean"),
          attention_example(model, r.pairs.front().corrupted.tokens, heads, "corrupted")};
}

EdgeScores score_edges(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric, const CountingCircuitOptions& o,
                       DiscoverCheckpoint* checkpoint) {
  if (auto done = checkpoint ? checkpoint->edges() : std::nullopt) return std::move(*done);
  EdgeScores edges;
  switch (o.method) {
    case EdgeMethod::Eap: edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, 0); break;
    case EdgeMethod::EapIg: edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, o.ig_steps); break;
    case EdgeMethod::Patch:
    case EdgeMethod::Path: edges = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted); break;
  }
  if (checkpoint) checkpoint->save(edges);
  return edges;
}

GraphInfo graph_info(const Model& model, const ProbeSource& source, const CountingCircuitOptions& o, const CountingCircuitResults& r) {
  const auto& c = model.config();
  GraphInfo info;
  info.method = r.edges.method;
  info.metric = fmt::format("probe logit difference (class {} - class {}) at blocks.{}.hook_resid_post, target position {}",
                            r.to, r.from, source.layer, r.pairs.front().target);
  info.model = c.name;
  info.dataset = fmt::format("{} pairs, splits {} vs {}, seed {}", r.pairs.size(), fmt::join(o.pairs.clean_split, "|"),
                             fmt::join(o.pairs.corrupted_split, "|"), o.pairs.seed);
  info.probe = fmt::format("{} (layer {})", source.path, source.layer);
  info.seed = o.pairs.seed;
  info.n_heads = static_cast<int>(c.n_heads);
  info.n_kv_heads = static_cast<int>(c.n_kv_heads);
  info.model_layers = static_cast<int>(c.n_layers);
  info.d_model = static_cast<int>(c.d_model);
  info.provenance = provenance(model, {source.path});
  return info;
}

// Circuit sizes of the faithfulness curve: the options' sizes, or 1, 2, 4, ... edges; always all edges.
std::vector<std::size_t> faithfulness_sizes(const CountingCircuitOptions& o, std::size_t all_edges) {
  auto sizes = o.faithfulness_sizes;
  if (sizes.empty())
    for (std::size_t k = 1; k < all_edges; k *= 2) sizes.push_back(k);
  sizes.push_back(all_edges);
  return sizes;
}

}  // namespace

CountingCircuitResults run_counting_circuit(const Model& model, const ProbeSource& source, const CountingCircuitOptions& o) {
  const auto& c = model.config();
  CountingCircuitResults r;
  r.pairs = token_aligned_pairs(model.tokenizer(), o.pairs);
  r.to = r.pairs.front().clean_label;
  r.from = r.pairs.front().corrupted_label;
  if (std::max(r.to, r.from) >= source.probe.n_classes())
    fail<InputError>("the pairs' word indices ({}, {}) exceed the probe's {} classes", r.to, r.from, source.probe.n_classes());
  const ProbeLogitDiff metric(source.probe, c, source.layer, r.to, r.from);
  std::optional<DiscoverCheckpoint> checkpoint;
  if (!o.checkpoint_dir.empty()) checkpoint.emplace(o.checkpoint_dir, source.path, counting_circuit_config(o, source));
  auto* saved = checkpoint ? &*checkpoint : nullptr;

  r.patching = patch_every_sweep(model, r.pairs, metric, saved);
  const auto by_position = PatchSweep::heads_by_position();
  r.attribution.estimate = attribution_patch(model, r.pairs, metric, by_position, PatchDirection::CleanIntoCorrupted);
  r.attribution.correlation_with_patching =
      correlation(r.attribution.estimate.effect(), r.patch(by_position, PatchDirection::CleanIntoCorrupted).effect());
  r.direct_clean = direct_attribution(model, pair_tokens(r.pairs, 0), r.pairs.front().target, metric);
  r.direct_corrupted = direct_attribution(model, pair_tokens(r.pairs, 1), r.pairs.front().target, metric);
  r.ablations = ablate_each_component(model, r.pairs, metric, o);
  r.head_scores = score_heads(model, source, o);
  r.attention_examples = top_head_examples(model, r, o.attention_example_heads);
  const auto text = text_chunks(model.tokenizer(), general_text(), std::min<std::int64_t>(64, c.n_ctx), c.arch == Architecture::Llama);
  r.direction_ablation = ablate_probe_directions(model, source.probe, source.layer, text, DirectionAblationKind::Project, o.pairs.seed);

  r.edges = score_edges(model, r.pairs, metric, o, saved);
  r.graph = CircuitGraph::from_edge_scores(r.edges, graph_info(model, source, o, r));
  r.faithfulness = faithfulness_curve(model, r.pairs, metric, r.graph, faithfulness_sizes(o, r.graph.num_edges()));
  r.graph.keep_top_k(o.top_edges);
  return r;
}

nlohmann::json CountingCircuitResults::summary() const {
  auto top_components = [](const at::Tensor& effect, const std::vector<std::string>& names, std::size_t k) {
    std::vector<std::pair<double, std::string>> v;
    for (std::size_t i = 0; i < names.size(); ++i) v.emplace_back(effect[static_cast<std::int64_t>(i)].item<double>(), names[i]);
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return std::abs(a.first) > std::abs(b.first); });
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < std::min(k, v.size()); ++i) out.push_back({{"component", v[i].second}, {"effect", v[i].first}});
    return out;
  };
  const auto& heads = patch(PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);  // effect [layer, head]
  auto effect = heads.effect();
  std::vector<std::string> names;
  std::vector<double> flat;
  for (std::int64_t l = 0; l < effect.size(0); ++l)
    for (std::int64_t h = 0; h < effect.size(1); ++h) {
      names.push_back(head_name(static_cast<int>(l), h));
      flat.push_back(effect[l][h].item<double>());
    }
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : faithfulness) curve.push_back({{"edges", p.edges}, {"nodes", p.nodes}, {"faithfulness", p.faithfulness}});
  nlohmann::json edges_json = nlohmann::json::array();
  for (const auto& [from, to_name, score] : graph.top_edges(10, true)) edges_json.push_back({{"from", from}, {"to", to_name}, {"score", score}});
  return {{"experiment", "counting_circuit"},
          {"pairs", pairs.size()},
          {"metric", graph.info().metric},
          {"clean_metric", heads.clean.mean().item<double>()},
          {"corrupted_metric", heads.corrupted.mean().item<double>()},
          {"top_heads_patching", top_components(at::tensor(flat, at::kDouble), names, 10)},
          {"top_components_mean_ablation", top_components(ablations[1].effect(), ablations[1].components, 10)},
          {"attribution_vs_patching_correlation", attribution.correlation_with_patching},
          {"method", edges.method},
          {"circuit", {{"nodes", graph.kept_nodes()}, {"edges", graph.kept_edges()}, {"components", graph.kept_components()}}},
          {"top_edges", edges_json},
          {"faithfulness", curve},
          {"direction_ablation",
           {{"layer", direction_ablation.layer}, {"rank", direction_ablation.rank}, {"loss", direction_ablation.loss},
            {"loss_ablated", direction_ablation.loss_ablated}, {"loss_random", direction_ablation.loss_random},
            {"kl_ablated", direction_ablation.kl_ablated}, {"kl_random", direction_ablation.kl_random}}}};
}

}  // namespace patchbay
