#include "patchbay/analysis/analysis_io.hpp"

#include <array>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {
namespace {

void require_labels(const H5Reader& in, const std::string& name, std::int64_t size, std::size_t labels) {
  if (size != static_cast<std::int64_t>(labels))
    fail<FormatError>("'{}': {} has {} entries along its labelled axis but {} labels", in.path(), name, size, labels);
}

struct DirectionScalar {
  const char* name;
  double DirectionAblationResult::*field;
  const char* description;
};
constexpr std::array<DirectionScalar, 5> kDirectionScalars{{
    {"loss", &DirectionAblationResult::loss, "next-token loss on general text"},
    {"loss_ablated", &DirectionAblationResult::loss_ablated, "loss with the probe directions projected out"},
    {"loss_random", &DirectionAblationResult::loss_random, "loss with a random subspace of the same size projected out"},
    {"kl_ablated", &DirectionAblationResult::kl_ablated, "KL(original || directions ablated) of next-token distributions"},
    {"kl_random", &DirectionAblationResult::kl_random, "KL(original || random subspace ablated)"},
}};

}  // namespace

void write_direct_attribution(H5Writer& out, const std::string& prompts, const DirectAttribution& d) {
  const std::string g = "direct/" + prompts;
  out.write_tensor(g + "/contributions", d.contributions,
                   {{"prompt", "component"}, "each component's output at the target projected on the metric direction (labels: components)"});
  out.write_strings(g + "/components", d.components, {{"component"}, "labels of the component axis"});
  out.write_tensor(g + "/neurons", d.neurons, {{"prompt", "layer", "neuron"}, "each MLP neuron's part of the metric (MLP output biases excluded)"});
  out.write_tensor(g + "/mlp_bias", d.mlp_bias, {{"layer"}, "each MLP's output bias projected on the metric direction"});
  out.write_tensor(g + "/total", d.total, {{"prompt"}, "the metric computed from the residual stream directly"});
  out.write_tensor(g + "/offset", d.offset, {{}, "the metric's constant term"});
}

std::optional<DirectAttribution> read_direct_attribution(const H5Reader& in, const std::string& prompts) {
  const std::string g = "direct/" + prompts;
  if (!in.has(g + "/contributions")) return std::nullopt;
  DirectAttribution d;
  d.contributions = in.read_tensor_of_rank(g + "/contributions", 2);
  d.components = in.read_strings(g + "/components");
  require_labels(in, g + "/contributions", d.contributions.size(1), d.components.size());
  d.neurons = in.read_tensor_of_rank(g + "/neurons", 3);
  if (in.has(g + "/mlp_bias")) d.mlp_bias = in.read_tensor_of_rank(g + "/mlp_bias", 1);
  d.total = in.read_tensor_of_rank(g + "/total", 1);
  d.offset = in.read_tensor_of_rank(g + "/offset", 0);
  return d;
}

void write_head_scores(H5Writer& out, const HeadScores& s) {
  out.write_tensor("heads/scores", s.scores,
                   {{"layer", "head", "pattern"}, "mean attention of each head to each pattern's positions (labels: heads/patterns); NaN where a pattern never applies"});
  out.write_strings("heads/patterns", s.patterns, {{"pattern"}, "labels of the pattern axis of heads/scores"});
}

std::optional<HeadScores> read_head_scores(const H5Reader& in) {
  if (!in.has("heads/scores")) return std::nullopt;
  HeadScores s;
  s.scores = in.read_tensor_of_rank("heads/scores", 3);
  s.patterns = in.read_strings("heads/patterns");
  require_labels(in, "heads/scores", s.scores.size(2), s.patterns.size());
  return s;
}

void write_attention_examples(H5Writer& out, const std::vector<AttentionExample>& examples) {
  for (const auto& e : examples) {
    const auto g = "examples/" + e.prompt;
    out.write_strings(g + "/tokens", e.tokens, {{"position"}, "the prompt's tokens as text"});
    out.write_strings(g + "/heads", e.heads, {{"head"}, "labels of the head axis of patterns"});
    out.write_tensor(g + "/patterns", e.patterns, {{"head", "q_pos", "k_pos"}, "attention probabilities of the heads", "probability"});
  }
}

std::vector<AttentionExample> read_attention_examples(const H5Reader& in) {
  std::vector<AttentionExample> out;
  for (const auto* prompt : {"clean", "corrupted"}) {
    const auto g = std::string("examples/") + prompt;
    if (!in.has(g + "/patterns")) continue;
    AttentionExample e{.prompt = prompt, .tokens = in.read_strings(g + "/tokens"), .heads = in.read_strings(g + "/heads"),
                       .patterns = in.read_tensor_of_rank(g + "/patterns", 3)};
    require_labels(in, g + "/patterns", e.patterns.size(0), e.heads.size());
    require_labels(in, g + "/patterns", e.patterns.size(1), e.tokens.size());
    out.push_back(std::move(e));
  }
  return out;
}

void write_direction_ablation(H5Writer& out, const DirectionAblationResult& r) {
  for (const auto& s : kDirectionScalars)
    out.write_tensor(std::string("direction_ablation/") + s.name, at::scalar_tensor(r.*s.field, at::kFloat), {{}, s.description, "nats"});
  out.write_tensor("direction_ablation/attention_change", at::tensor(r.attention_change, at::kDouble).to(at::kFloat),
                   {{"layer"}, "mean absolute change of attention patterns with the probe directions projected out"});
  out.write_tensor("direction_ablation/attention_change_random", at::tensor(r.attention_change_random, at::kDouble).to(at::kFloat),
                   {{"layer"}, "the same with a random subspace projected out"});
  out.write_attribute("layer", r.layer, "direction_ablation");
  out.write_attribute("rank", r.rank, "direction_ablation");
  out.write_attribute("tokens", r.tokens, "direction_ablation");
}

std::optional<DirectionAblationResult> read_direction_ablation(const H5Reader& in) {
  if (!in.has("direction_ablation/loss")) return std::nullopt;
  DirectionAblationResult r;
  for (const auto& s : kDirectionScalars) r.*s.field = in.read_tensor_of_rank(std::string("direction_ablation/") + s.name, 0).item<double>();
  r.attention_change = in.read_doubles("direction_ablation/attention_change");
  r.attention_change_random = in.read_doubles("direction_ablation/attention_change_random");
  r.layer = static_cast<int>(in.numeric_attribute("layer", "direction_ablation").value_or(0));
  r.rank = static_cast<std::int64_t>(in.numeric_attribute("rank", "direction_ablation").value_or(0));
  r.tokens = static_cast<std::int64_t>(in.numeric_attribute("tokens", "direction_ablation").value_or(0));
  return r;
}

}  // namespace patchbay
