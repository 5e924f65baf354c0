// Word-index results in HDF5:
//   /                      attributes: kind, provenance (JSON), config (JSON), summary (JSON)
//   /dataset/{train,val}/  tokens, unit, pos_in_unit, first, last, space [n_prompts, max_len] (padded -1),
//                          lengths [n_prompts], points [n_points, 3] (prompt, position, label)
//   /layers/NAME/probe/    W [d_model, K], b [K] (+ mean, std); attributes converged, iterations, stop_reason
//   /layers/NAME/control/  the control-task probe, same layout
//   /layers/NAME/val/      accuracy, per_word [K], positions [P], per_position [P], cells [K, P, K]
//   /baselines/{abs_position,space_count}/  the same evaluation layout
#include <filesystem>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/result_file.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/probe/probe_io.hpp"
#include "patchbay/report/report.hpp"

namespace patchbay {
namespace {

// A [n_prompts, max_len] table of one per-token field, padded with -1.
template <typename Field>
at::Tensor token_table(const WordIndexSplit& split, Field field) {
  auto t = at::full({static_cast<std::int64_t>(split.prompts.size()), split.max_length()}, -1, at::kLong);
  auto a = t.accessor<std::int64_t, 2>();
  for (std::size_t i = 0; i < split.prompts.size(); ++i) {
    const auto& p = split.prompts[i];
    for (std::size_t j = 0; j < p.tokens.size(); ++j) a[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = field(p, j);
  }
  return t;
}

void write_split(H5Writer& out, const std::string& group, const WordIndexSplit& split) {
  // Per-token tables: one row per prompt, padded with -1 after its last token.
  auto table = [&](const char* name, const char* description, auto field) {
    out.write_tensor(group + "/" + name, token_table(split, field), {{"prompt", "position"}, description, "", -1.0});
  };
  table("tokens", "token ids (BOS first when the run's dataset.bos is true)", [](const Prompt& p, std::size_t j) { return p.tokens[j]; });
  table("unit", "word index of each token; -1 in the prefix", [](const Prompt& p, std::size_t j) { return std::int64_t(p.unit[j]); });
  table("pos_in_unit", "position of the token inside its word; -1 in the prefix",
        [](const Prompt& p, std::size_t j) { return std::int64_t(p.pos_in_unit[j]); });
  table("first", "1 if the token starts a word", [](const Prompt& p, std::size_t j) { return std::int64_t(p.first[j]); });
  table("last", "1 if the token ends a word", [](const Prompt& p, std::size_t j) { return std::int64_t(p.last[j]); });
  table("space", "1 if the token begins with a space", [](const Prompt& p, std::size_t j) { return std::int64_t(p.space[j]); });
  std::vector<std::int64_t> lengths, points;
  for (const auto& p : split.prompts) lengths.push_back(static_cast<std::int64_t>(p.tokens.size()));
  for (const auto& pt : split.points) points.insert(points.end(), {pt.prompt, pt.position, pt.label});
  out.write_tensor(group + "/lengths", at::tensor(lengths, at::kLong), {{"prompt"}, "number of tokens of each prompt"});
  out.write_tensor(group + "/points", at::tensor(points, at::kLong).view({-1, 3}),
                   {{"point", "field"}, "probed tokens: (prompt row, absolute position, word index label)"});
}

void write_evaluation(H5Writer& out, const std::string& group, const Evaluation& e) {
  out.write_tensor(group + "/accuracy", at::scalar_tensor(e.accuracy, at::kFloat), {{}, "validation accuracy", "fraction"});
  out.write_tensor(group + "/per_word", at::tensor(e.per_label, at::kDouble).to(at::kFloat),
                   {{"word"}, "validation accuracy for each true word index", "fraction"});
  out.write_tensor(group + "/positions", at::tensor(e.positions, at::kLong), {{"position"}, "absolute positions that occur (labels of per_position)"});
  out.write_tensor(group + "/per_position", at::tensor(e.per_position, at::kDouble).to(at::kFloat),
                   {{"position"}, "validation accuracy at each absolute position in positions", "fraction"});
  out.write_tensor(group + "/cells", e.cells,
                   {{"word", "position", "predicted_word"}, "counts of predictions per (true word index, absolute position, predicted word index)", "count"});
}

nlohmann::json options_json(const WordIndexExperimentOptions& o) {
  return {{"layers", o.layers},
          {"main_layer", o.main_layer},
          {"probe", {{"C", o.probe.C}, {"tol", o.probe.tol}, {"max_iter", o.probe.max_iter}, {"standardize", o.probe.standardize}}},
          {"batch_size", o.extract.batch_size},
          {"works_margin", o.works_margin},
          {"dictionary", o.data.dictionary},
          {"train_fraction", o.data.train_fraction}};
}

}  // namespace

std::vector<std::string> write_word_index_results(const std::string& path, bool overwrite, const Model& model,
                                                  const WordIndexExperimentOptions& options, const WordIndexResults& r) {
  H5Writer out(path, overwrite);
  const auto summary = r.summary(model);
  write_result_header(out, model, {"word_index", summary["provenance"], options_json(options), summary});
  out.write_attribute("seed", r.dataset.options.seed);
  write_split(out, "dataset/train", r.dataset.train);
  write_split(out, "dataset/val", r.dataset.val);
  for (const auto& lr : r.layers) {
    const std::string g = "layers/" + probe_layer_name(lr.layer);
    write_probe(out, g + "/probe", lr.probe);
    write_probe(out, g + "/control", lr.control_probe);
    write_evaluation(out, g + "/val", lr.val);
    out.write_tensor(g + "/train_accuracy", at::scalar_tensor(lr.train_accuracy, at::kFloat), {{}, "training accuracy of the probe", "fraction"});
    out.write_tensor(g + "/control_accuracy", at::scalar_tensor(lr.control_accuracy, at::kFloat),
                     {{}, "validation accuracy of the control-task probe (random labels per token type)", "fraction"});
    out.write_attribute("hook", to_string(probe_layer_hook(lr.layer)), g + "/probe");
  }
  write_evaluation(out, "baselines/abs_position", r.abs_position_baseline);
  write_evaluation(out, "baselines/space_count", r.space_count_baseline);

  return commit_with_report(out, path);
}

}  // namespace patchbay
