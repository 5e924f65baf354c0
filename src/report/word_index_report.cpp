// The word-index sections of a report: the layer sweep with its baselines, the key plot for
// every probed layer and both baselines, and where the probe beats absolute position.
#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/probe/evaluate.hpp"
#include "patchbay/report/figures.hpp"
#include "patchbay/report/word_index_plots.hpp"
#include "report_sections.hpp"

namespace patchbay::report_detail {
namespace {

// The probed layers, in model order: "embed" first, then by number.
std::vector<std::string> probed_layers(const H5Reader& in) {
  std::vector<std::string> layers;
  for (const auto& d : in.datasets())
    if (d.starts_with("layers/") && d.ends_with("/val/accuracy")) layers.push_back(d.substr(7, d.size() - 7 - 13));
  auto order = [](const std::string& name) -> long { return name == "embed" ? -1 : std::stol(name); };
  for (const auto& l : layers)
    if (l != "embed" && (l.empty() || l.size() > 6 || !std::all_of(l.begin(), l.end(), ::isdigit)))
      fail<FormatError>("'{}': unexpected probe layer 'layers/{}' (expected 'embed' or a layer number)", in.path(), l);
  std::sort(layers.begin(), layers.end(), [&](const auto& a, const auto& b) { return order(a) < order(b); });
  return layers;
}

// An evaluation group (val/ of a layer or a baseline) as the key plot reads it.
Evaluation read_evaluation(const H5Reader& in, const std::string& group, std::int64_t& n_classes) {
  Evaluation e;
  e.accuracy = in.read_tensor_of_rank(group + "/accuracy", 0, kMaxReportElements).item<double>();
  e.positions = in.read_int64s(group + "/positions");
  e.cells = in.read_tensor_of_rank(group + "/cells", 3, kMaxReportElements).to(at::kLong);
  auto per_word = in.read_tensor_of_rank(group + "/per_word", 1, kMaxReportElements).to(at::kDouble);
  e.per_label.assign(per_word.data_ptr<double>(), per_word.data_ptr<double>() + per_word.numel());
  if (n_classes == 0) n_classes = e.cells.size(0);
  if (e.cells.size(0) != n_classes || e.cells.size(2) != n_classes || e.cells.size(1) != static_cast<std::int64_t>(e.positions.size()) ||
      per_word.numel() != n_classes)
    fail<FormatError>("'{}': {}/cells has shape {}, expected [{}, {}, {}] (classes, positions, classes) and per_word [{}]", in.path(),
                      group, e.cells.sizes(), n_classes, e.positions.size(), n_classes, n_classes);
  return e;
}

}  // namespace

void add_word_index_sections(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto summary = read_json_attribute(in, "summary");
  const auto model = in.attribute("model").value_or("model");
  const auto layers = probed_layers(in);
  if (layers.empty()) fail<FormatError>("'{}' is a word-index file without probed layers (no layers/*/val/accuracy)", in.path());

  std::int64_t K = 0;
  std::vector<Evaluation> evaluations;
  LayerSweep sweep;
  for (const auto& l : layers) {
    evaluations.push_back(read_evaluation(in, "layers/" + l + "/val", K));
    sweep.layers.push_back(l);
    sweep.accuracy.push_back(evaluations.back().accuracy);
    sweep.control.push_back(in.read_tensor_of_rank("layers/" + l + "/control_accuracy", 0, kMaxReportElements).item<double>());
  }
  const auto abs_position = read_evaluation(in, "baselines/abs_position", K);
  const auto space_count = read_evaluation(in, "baselines/space_count", K);
  sweep.abs_position = abs_position.accuracy;
  sweep.space_count = space_count.accuracy;
  sweep.chance = 1.0 / static_cast<double>(K);

  std::string main_layer = json_field<std::string>(summary, "main_layer", layers.back(), fmt::format("'{}': attribute 'summary'", in.path()));
  if (std::find(layers.begin(), layers.end(), main_layer) == layers.end()) main_layer = layers.back();
  const auto main_index = static_cast<std::size_t>(std::find(layers.begin(), layers.end(), main_layer) - layers.begin());

  auto& s = doc.section(fmt::format("Word-index probe ({})", model));
  std::string earliest = "none";
  if (summary.is_object() && summary.contains("earliest_working_layer") && !summary["earliest_working_layer"].is_null())
    earliest = summary["earliest_working_layer"].dump();
  s.paragraph(fmt::format("A logistic-regression probe reads the word index ({} classes) from the residual stream at the last "
                          "token of each word. At layer {} it reaches {:.3f} validation accuracy, against {:.3f} for a classifier "
                          "that sees only the absolute position, {:.3f} for one that counts space tokens, and chance {:.3f}. "
                          "Earliest layer where the probe beats absolute position by the run's margin: {}.",
                          K, main_layer, sweep.accuracy[main_index], sweep.abs_position, sweep.space_count, sweep.chance, earliest));
  s.figure({.name = prefix + "layer_sweep",
            .caption = "Validation accuracy of the word-index probe after each layer, with the control task (the same probe "
                       "trained on labels that depend only on the token type: high control accuracy means the probe can "
                       "memorise rather than read) and the baselines as dashed lines.",
            .svg = layer_sweep_svg(sweep, fmt::format("{}: word-index probe by layer", model))});

  html::Choice key{.label = "probe or baseline"};
  auto add_key = [&](const std::string& label, const std::string& name, const Evaluation& e) {
    key.options.push_back({label, {.name = prefix + name,
                                   .caption = "One row per true word index; in each row, one bar per absolute token position, "
                                              "split by the predicted word index. A perfect probe gives one colour per row; a "
                                              "probe that only knows the position gives the same bars in every row.",
                                   .svg = key_plot_svg(e, static_cast<int>(K),
                                                       fmt::format("{}: predicted word index by absolute position ({}, accuracy {:.3f})",
                                                                   model, label, e.accuracy))}});
  };
  add_key(fmt::format("probe at layer {}", main_layer), "key_plot", evaluations[main_index]);
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (i != main_index) add_key(fmt::format("probe at layer {}", layers[i]), "key_plot_layer_" + layers[i], evaluations[i]);
  add_key("absolute-position baseline", "key_plot_abs_position", abs_position);
  add_key("space-count baseline", "key_plot_space_count", space_count);
  doc.section("Key plot: predicted word index per absolute position").choice(std::move(key));

  // Per word: how much the probe beats the absolute-position classifier.
  auto advantage = at::empty({static_cast<std::int64_t>(layers.size()), K}, at::kDouble);  // [layer, word]
  for (std::size_t i = 0; i < layers.size(); ++i)
    for (std::int64_t k = 0; k < K; ++k)
      advantage[static_cast<std::int64_t>(i)][k] = evaluations[i].per_label[static_cast<std::size_t>(k)] - abs_position.per_label[static_cast<std::size_t>(k)];
  std::vector<std::string> words;
  for (std::int64_t k = 0; k < K; ++k) words.push_back(fmt::format("word {}", k));
  doc.section("Where the probe beats absolute position")
      .figure({.name = prefix + "advantage_by_word",
               .caption = "Probe accuracy minus the absolute-position baseline's accuracy, per layer and true word index. "
                          "Blue: the probe knows more than the position tells; red: less.",
               .svg = heatmap_svg(advantage, layers, words, "Probe accuracy minus absolute-position baseline", "layer", "true word index")});
}

}  // namespace patchbay::report_detail
