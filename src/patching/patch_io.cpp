#include "patchbay/patching/patch_io.hpp"

#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {
namespace {

const std::string kNormalised = "normalised effect (patched - corrupted) / (clean - corrupted), mean over pairs";

std::vector<std::string> without_pair_axis(const std::vector<std::string>& axes) { return {axes.begin() + 1, axes.end()}; }

// metric, clean, corrupted and effect of one result in `group`.
void write_metrics(H5Writer& out, const std::string& group, const PatchResult& r, const std::string& what) {
  out.write_tensor(group + "/metric", r.metric, {r.axes, what + ": " + r.sweep.describe()});
  out.write_tensor(group + "/clean", r.clean, {{"pair"}, "unpatched clean metric of each pair"});
  out.write_tensor(group + "/corrupted", r.corrupted, {{"pair"}, "unpatched corrupted metric of each pair"});
  out.write_tensor(group + "/effect", r.effect(), {without_pair_axis(r.axes), kNormalised});
  out.write_attribute("description", r.sweep.describe(), group);
}

PatchResult read_metrics(const H5Reader& in, const std::string& group, const PatchSweep& sweep, PatchDirection direction) {
  PatchResult r;
  r.sweep = sweep;
  r.direction = direction;
  r.axes = in.axes(group + "/metric");
  r.metric = in.read_tensor(group + "/metric");
  r.clean = in.read_tensor_of_rank(group + "/clean", 1);
  r.corrupted = in.read_tensor_of_rank(group + "/corrupted", 1);
  if (r.axes.empty() || r.axes.front() != "pair" || r.metric.size(0) != r.clean.size(0) || r.clean.size(0) != r.corrupted.size(0))
    fail<FormatError>("'{}': {}/metric, clean and corrupted do not share a leading pair axis ({}, {}, {} pairs)", in.path(), group,
                      r.metric.dim() ? r.metric.size(0) : 0, r.clean.size(0), r.corrupted.size(0));
  return r;
}

PatchDirection parse_direction(const H5Reader& in, const std::string& name) {
  for (auto d : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean})
    if (name == to_string(d)) return d;
  fail<FormatError>("'{}': unknown patching direction '{}' (expected clean_into_corrupted or corrupted_into_clean)", in.path(), name);
}

// The groups `prefix`/NAME/... (with depth 1) or `prefix`/NAME/DIR/... (depth 2) holding `leaf`.
std::vector<std::vector<std::string>> groups_with(const H5Reader& in, const std::string& prefix, std::size_t depth, const std::string& leaf) {
  std::vector<std::vector<std::string>> out;
  for (const auto& d : in.datasets()) {
    if (!d.starts_with(prefix + "/") || !d.ends_with("/" + leaf)) continue;
    const auto middle = d.substr(prefix.size() + 1, d.size() - prefix.size() - leaf.size() - 2);
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t slash; (slash = middle.find('/', start)) != std::string::npos; start = slash + 1) parts.push_back(middle.substr(start, slash - start));
    parts.push_back(middle.substr(start));
    if (parts.size() == depth) out.push_back(parts);
  }
  return out;
}

PatchSweep parse_sweep(const H5Reader& in, const std::string& name) {
  try {
    return PatchSweep::parse(name);
  } catch (const InputError& e) {
    fail<FormatError>("'{}': {}", in.path(), e.what());
  }
}

}  // namespace

void write_patch_results(H5Writer& out, const std::vector<PatchResult>& results) {
  for (const auto& r : results)
    write_metrics(out, fmt::format("patching/{}/{}", r.sweep.short_name(), to_string(r.direction)), r, "metric of each patched run");
}

std::vector<PatchResult> read_patch_results(const H5Reader& in) {
  std::vector<PatchResult> out;
  for (const auto& parts : groups_with(in, "patching", 2, "metric"))
    out.push_back(read_metrics(in, fmt::format("patching/{}/{}", parts[0], parts[1]), parse_sweep(in, parts[0]), parse_direction(in, parts[1])));
  return out;
}

void write_attribution(H5Writer& out, const AttributionResult& a) {
  const auto group = "attribution/" + a.estimate.sweep.short_name();
  write_metrics(out, group, a.estimate, "first-order (attribution patching) estimate of each patched metric");
  out.write_attribute("correlation_with_patching", a.correlation_with_patching, group);
}

std::vector<AttributionResult> read_attributions(const H5Reader& in) {
  std::vector<AttributionResult> out;
  for (const auto& parts : groups_with(in, "attribution", 1, "metric")) {
    const auto group = "attribution/" + parts[0];
    AttributionResult a{read_metrics(in, group, parse_sweep(in, parts[0]), PatchDirection::CleanIntoCorrupted)};
    a.correlation_with_patching = in.numeric_attribute("correlation_with_patching", group).value_or(NAN);
    out.push_back(std::move(a));
  }
  return out;
}

void write_ablations(H5Writer& out, const std::vector<AblationSweepResult>& ablations) {
  for (const auto& a : ablations) {
    const std::string g = std::string("ablation/") + to_string(a.options.kind);
    out.write_tensor(g + "/metric", a.metric, {{"pair", "component"}, "clean metric with that one component ablated"});
    out.write_tensor(g + "/clean", a.clean, {{"pair"}, "unablated clean metric of each pair"});
    out.write_tensor(g + "/corrupted", a.corrupted, {{"pair"}, "corrupted metric of each pair"});
    out.write_tensor(g + "/effect", a.effect(), {{"component"}, "normalised effect (ablated - clean) / (clean - corrupted), mean over pairs"});
    out.write_strings(g + "/components", a.components, {{"component"}, "labels of the component axis"});
    out.write_attribute("per_position", a.options.per_position, g);
  }
}

std::vector<AblationSweepResult> read_ablations(const H5Reader& in) {
  std::vector<AblationSweepResult> out;
  for (auto kind : {AblationKind::Zero, AblationKind::Mean, AblationKind::Resample, AblationKind::Corrupted}) {
    const std::string g = std::string("ablation/") + to_string(kind);
    if (!in.has(g + "/metric")) continue;
    AblationSweepResult a;
    a.options.kind = kind;
    a.options.per_position = in.numeric_attribute("per_position", g).value_or(0) != 0;
    a.metric = in.read_tensor_of_rank(g + "/metric", 2);
    a.clean = in.read_tensor_of_rank(g + "/clean", 1);
    a.corrupted = in.read_tensor_of_rank(g + "/corrupted", 1);
    a.components = in.read_strings(g + "/components");
    if (a.metric.size(1) != static_cast<std::int64_t>(a.components.size()) || a.metric.size(0) != a.clean.size(0))
      fail<FormatError>("'{}': {}/metric is {} but there are {} components and {} pairs", in.path(), g, a.metric.sizes(),
                        a.components.size(), a.clean.size(0));
    out.push_back(std::move(a));
  }
  return out;
}

MetricInfo metric_info(const Metric& metric, const at::Tensor& clean, const at::Tensor& corrupted) {
  return {metric.name(), metric.describe(), metric.layer(), metric.clean_sign(), metric_separation(metric, clean, corrupted)};
}

void write_metric_info(H5Writer& out, const MetricInfo& m) {
  const auto& s = m.separation;
  out.write_attribute("metric", m.name);
  out.write_attribute("metric_description", m.description);
  out.write_attribute("metric_layer", m.layer);
  out.write_attribute("metric_clean_sign", m.clean_sign);
  for (const auto& [key, value] : {std::pair<const char*, double>{"metric_clean", s.clean}, {"metric_corrupted", s.corrupted},
                                   {"metric_difference", s.difference}, {"metric_standard_error", s.standard_error}})
    out.write_attribute(key, value);
  out.write_attribute("metric_separated", s.separated);
  out.write_attribute("metric_warning", s.warning);
}

MetricInfo read_metric_info(const H5Reader& in) {
  MetricInfo m;
  if (!in.attribute("metric")) return m;
  auto number = [&](const char* key) { return in.numeric_attribute(key).value_or(NAN); };
  m.name = *in.attribute("metric");
  m.description = in.attribute("metric_description").value_or("");
  m.layer = static_cast<int>(number("metric_layer"));
  m.clean_sign = number("metric_clean_sign") < 0 ? -1 : 1;
  m.separation = {number("metric_clean"), number("metric_corrupted"), number("metric_difference"), number("metric_standard_error"),
                  number("metric_separated") != 0, in.attribute("metric_warning").value_or("")};
  return m;
}

void write_pairs(H5Writer& out, const std::vector<PromptPair>& pairs) {
  const DatasetDoc tokens_doc{{"pair", "position"}, "token ids of each pair's prompt (clean and corrupted have equal lengths)"};
  out.write_tensor("pairs/clean", pair_tokens(pairs, 0), tokens_doc);
  out.write_tensor("pairs/corrupted", pair_tokens(pairs, 1), tokens_doc);
  out.write_tensor("pairs/target", at::scalar_tensor(static_cast<std::int64_t>(pairs.front().target), at::kLong),
                   {{}, "absolute position of the target token read by the metric"});
  std::vector<std::int64_t> correct, incorrect;
  for (const auto& p : pairs) {
    correct.push_back(p.correct);
    incorrect.push_back(p.incorrect);
  }
  out.write_tensor("pairs/correct", at::tensor(correct, at::kLong), {{"pair"}, "correct answer token of each pair (-1: none)"});
  out.write_tensor("pairs/incorrect", at::tensor(incorrect, at::kLong), {{"pair"}, "incorrect answer token of each pair (-1: none)"});
}

std::vector<PromptPair> read_pairs(const H5Reader& in) {
  const auto clean = in.read_tensor("pairs/clean"), corrupted = in.read_tensor("pairs/corrupted");
  if (clean.dim() != 2 || clean.sizes() != corrupted.sizes())
    fail<FormatError>("'{}': pairs/clean {} and pairs/corrupted {} are not [pair, position] of one shape", in.path(), clean.sizes(),
                      corrupted.sizes());
  const auto target = in.read_tensor("pairs/target").item<std::int64_t>();
  if (target < 0 || target >= clean.size(1)) fail<FormatError>("'{}': pairs/target {} is outside prompts of {} tokens", in.path(), target, clean.size(1));
  const auto n = clean.size(0);
  auto answers = [&](const char* name) {
    auto v = in.has(name) ? in.read_int64s(name) : std::vector<std::int64_t>(static_cast<std::size_t>(n), -1);
    if (static_cast<std::int64_t>(v.size()) != n) fail<FormatError>("'{}': {} has {} entries for {} pairs", in.path(), name, v.size(), n);
    return v;
  };
  const auto correct = answers("pairs/correct"), incorrect = answers("pairs/incorrect");
  auto row = [](const at::Tensor& t, std::int64_t i) {
    auto c = t[i].contiguous();
    return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
  };
  std::vector<PromptPair> pairs;
  for (std::int64_t i = 0; i < n; ++i) {
    PromptPair p;
    p.clean.tokens = row(clean, i);
    p.corrupted.tokens = row(corrupted, i);
    p.target = static_cast<std::int32_t>(target);
    p.correct = correct[static_cast<std::size_t>(i)];
    p.incorrect = incorrect[static_cast<std::size_t>(i)];
    pairs.push_back(std::move(p));
  }
  return pairs;
}

void write_edge_scores(H5Writer& out, const EdgeScores& e) {
  out.write_tensor("edges/scores", e.scores.to(at::kFloat),
                   {{"sender", "receiver"}, "edge scores (labels: edges/senders, edges/receivers); 0 where there is no edge"});
  out.write_tensor("edges/valid", e.valid.to(at::kLong), {{"sender", "receiver"}, "1 where the sender is upstream of the receiver"});
  out.write_strings("edges/senders", e.senders, {{"sender"}, "labels of the sender axis"});
  out.write_strings("edges/receivers", e.receivers, {{"receiver"}, "labels of the receiver axis (keys and values per query head)"});
  out.write_attribute("method", e.method, "edges");
  out.write_attribute("readout_layer", e.readout_layer, "edges");
}

EdgeScores read_edge_scores(const H5Reader& in) {
  EdgeScores e;
  if (!in.has("edges/scores")) return e;
  e.scores = in.read_tensor_of_rank("edges/scores", 2);
  e.valid = in.read_tensor_of_rank("edges/valid", 2).ne(0);
  e.senders = in.read_strings("edges/senders");
  e.receivers = in.read_strings("edges/receivers");
  if (e.scores.sizes() != e.valid.sizes() || e.scores.size(0) != static_cast<std::int64_t>(e.senders.size()) ||
      e.scores.size(1) != static_cast<std::int64_t>(e.receivers.size()))
    fail<FormatError>("'{}': edges/scores is {} for {} senders and {} receivers (valid {})", in.path(), e.scores.sizes(),
                      e.senders.size(), e.receivers.size(), e.valid.sizes());
  e.method = in.attribute("method", "edges").value_or("");
  e.readout_layer = static_cast<int>(in.numeric_attribute("readout_layer", "edges").value_or(0));
  return e;
}

}  // namespace patchbay
