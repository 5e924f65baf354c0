#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/experiments/counting_circuit.hpp"

#include <cmath>
#include <optional>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/study_checkpoint.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/patching/path.hpp"

namespace patchbay {

namespace {
std::vector<std::string> compare_method_names(const std::vector<EdgeMethod>& methods) {
  std::vector<std::string> out;
  for (auto m : methods) out.push_back(to_string(m));
  return out;
}
}  // namespace

nlohmann::json counting_circuit_config(const CountingCircuitOptions& o, const ProbeSource& probe) {
  return {{"clean_split", o.pairs.clean_split}, {"corrupted_split", o.pairs.corrupted_split},
          {"pairs", o.pairs.n_pairs},           {"prefix", o.pairs.prefix},
          {"bos", o.pairs.bos},                 {"seed", o.pairs.seed},
          {"word_split_seed", o.pairs.split_seed},
          {"dictionary", o.pairs.dictionary},   {"method", to_string(o.method)},
          {"ig_steps", o.ig_steps},             {"top_edges", o.top_edges},
          {"compare_methods", compare_method_names(o.compare_methods)},
          {"positional", o.positional ? to_string(*o.positional) : ""},
          {"probe", probe.path},                {"probe_layer", probe.layer}};
}

PairOptions pair_options_for(const ProbeSource& probe) {
  PairOptions o;
  o.prefix = probe.dataset.prefix;
  o.bos = probe.dataset.bos;
  o.split_seed = probe.dataset.seed;
  std::tie(o.clean_split, o.corrupted_split) = default_splits(probe.dataset.word_lengths);
  return o;
}

std::pair<std::vector<int>, std::vector<int>> default_splits(const std::vector<int>& lengths) {
  const int m = lengths.empty() ? 1 : *std::min_element(lengths.begin(), lengths.end());
  if (m == 1) return {{3, 1}, {1, 2, 1}};
  return {{2 * m, m}, {m, m, m}};
}

namespace {

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

GraphInfo graph_info(const Model& model, const ProbeSource& source, const CountingCircuitOptions& o, const CountingCircuitResults& r,
                     const std::vector<PromptPair>& pairs) {
  const auto& c = model.config();
  GraphInfo info;
  info.metric = fmt::format("probe logit difference (class {} - class {}) at blocks.{}.hook_resid_post, target position {}",
                            r.to, r.from, source.layer, pairs.front().target);
  info.model = c.name;
  info.dataset = fmt::format("{} pairs, splits {} vs {}, seed {}", pairs.size(), fmt::join(o.pairs.clean_split, "|"),
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

// The study's part of a counting circuit: every default sweep, attribution of heads by position,
// zero/mean/resample ablation with the pair seed, and the graph by the chosen method.
PatchingStudyOptions study_options(const CountingCircuitOptions& o) {
  PatchingStudyOptions s;
  s.attribution_sweeps = {PatchSweep::heads_by_position()};
  s.ablation = o.mean_ablation;
  s.ablation.seed = o.pairs.seed;
  s.graph = o.method;
  s.positional = o.positional;
  s.ig_steps = o.ig_steps;
  s.top_edges = o.top_edges;
  s.faithfulness_fractions = o.faithfulness_fractions;
  s.ground_truth = o.ground_truth;
  s.compare_methods = o.compare_methods;
  return s;
}


}  // namespace

CountingCircuitResults run_counting_circuit(const Model& model, const ProbeSource& source, const CountingCircuitOptions& o) {
  const auto& c = model.config();
  CountingCircuitResults r;
  auto pairs = token_aligned_pairs(model.tokenizer(), o.pairs);
  r.to = pairs.front().clean_label;
  r.from = pairs.front().corrupted_label;
  if (std::max(r.to, r.from) >= source.probe.n_classes())
    fail<InputError>("the pairs' word indices ({}, {}) exceed the probe's {} classes", r.to, r.from, source.probe.n_classes());
  const ProbeLogitDiff metric(source.probe, c, source.layer, r.to, r.from);
  std::optional<StudyCheckpoint> checkpoint;
  if (!o.checkpoint_dir.empty()) checkpoint.emplace(o.checkpoint_dir, std::vector<std::string>{source.path}, counting_circuit_config(o, source));
  auto info = graph_info(model, source, o, r, pairs);
  static_cast<PatchingStudyResults&>(r) =
      run_patching_study(model, std::move(pairs), metric, study_options(o), std::move(info), checkpoint ? &*checkpoint : nullptr);

  r.direct_clean = direct_attribution(model, pair_tokens(r.pairs, 0), r.pairs.front().target, metric);
  r.direct_corrupted = direct_attribution(model, pair_tokens(r.pairs, 1), r.pairs.front().target, metric);
  r.head_scores = score_heads(model, source, o);
  r.attention_examples = top_head_examples(model, r, o.attention_example_heads);
  const auto text = text_chunks(model.tokenizer(), general_text(), std::min<std::int64_t>(64, c.n_ctx), c.arch == Architecture::Llama);
  r.direction_ablation = ablate_probe_directions(model, source.probe, source.layer, text, DirectionAblationKind::Project, o.pairs.seed);
  return r;
}

nlohmann::json CountingCircuitResults::summary() const {
  auto j = PatchingStudyResults::summary();
  j["experiment"] = "counting_circuit";
  const auto& d = direction_ablation;
  j["direction_ablation"] = {{"layer", d.layer},           {"rank", d.rank},
                             {"loss", d.loss},             {"loss_ablated", d.loss_ablated},
                             {"loss_random", d.loss_random}, {"kl_ablated", d.kl_ablated},
                             {"kl_random", d.kl_random}};
  return j;
}

}  // namespace patchbay
