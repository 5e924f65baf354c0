#include "patchbay/experiments/word_index.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/core/progress.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/core/rng.hpp"
#include "word_index_cache.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/probe/probe_io.hpp"

#include <filesystem>

namespace patchbay {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

at::Tensor labels_of(const WordIndexSplit& split) {
  std::vector<std::int64_t> y;
  for (const auto& pt : split.points) y.push_back(pt.label);
  return at::tensor(y, at::kLong);
}

// A baseline that sees one integer feature of each point, evaluated like the probe.
template <typename Feature>
Evaluation feature_baseline(const WordIndexDataset& ds, Feature feature) {
  std::vector<std::int64_t> train_values, train_labels, val_values;
  for (const auto& pt : ds.train.points) {
    train_values.push_back(feature(ds.train.prompts[pt.prompt], pt));
    train_labels.push_back(pt.label);
  }
  for (const auto& pt : ds.val.points) val_values.push_back(feature(ds.val.prompts[pt.prompt], pt));
  auto predicted = lookup_classifier(train_values, train_labels, val_values, ds.n_classes());
  return evaluate_predictions(predicted, ds.val, ds.n_classes());
}

}  // namespace

std::vector<int> choose_word_lengths(const Tokenizer& tokenizer, const std::string& dictionary, std::uint64_t seed) {
  const auto lists = load_word_lists(tokenizer, dictionary, seed);
  const std::size_t enough = 50;  // distinct words per length in each split
  for (int start = 1; start <= 8; ++start) {
    bool ok = true;
    for (int len = start; len < start + 3; ++len)
      ok = ok && lists.train.of_length(len).size() >= enough && lists.val.of_length(len).size() >= enough;
    if (ok) return {start, start + 1, start + 2};
  }
  fail<InputError>("no three consecutive word lengths have {} words each (training words: {})", enough,
                   lists.train.describe());
}

std::vector<std::int64_t> control_labels(const WordIndexSplit& split, int n_classes, std::uint64_t seed) {
  std::vector<std::int64_t> out;
  for (const auto& pt : split.points) {
    auto token = split.prompts[pt.prompt].tokens[pt.position];
    out.push_back(static_cast<std::int64_t>(Rng(seed).fork(static_cast<std::uint64_t>(token) + 1).below(n_classes)));
  }
  return out;
}

WordIndexExperimentOptions default_word_index_options(const Model& model) {
  WordIndexExperimentOptions o;
  o.data.unit_lengths = choose_word_lengths(model.tokenizer(), o.data.dictionary, o.data.seed);
  return o;
}

void apply_word_index_variant(WordIndexExperimentOptions& o, const std::string& v) {
  auto scheme = [&](CountingScheme s, const char* prefix) {
    o.data.scheme = s;
    o.data.prefix = prefix_named(prefix);
  };
  if (v == "balanced") o.data.balance_positions = true;
  else if (v == "random-tokens") o.data.source = UnitSource::RandomTokensSpaced;
  else if (v == "random-tokens-nospace") o.data.source = UnitSource::RandomTokensUnspaced;
  else if (v == "long-words") o.data.unit_lengths = {4, 5, 6, 7, 8};
  else if (v == "sentences") scheme(CountingScheme::Sentences, "paragraph");
  else if (v == "list") scheme(CountingScheme::ListItems, "list");
  else if (v == "code") scheme(CountingScheme::CodeLines, "code");
  else if (v == "first-token") o.data.readout = Readout::FirstToken;
  else
    fail<InputError>("unknown variant '{}' (expected balanced, random-tokens, random-tokens-nospace, long-words, "
                     "sentences, list, code, first-token)",
                     v);
}

const LayerProbeResult& WordIndexResults::layer(int l) const {
  for (const auto& r : layers)
    if (r.layer == l) return r;
  fail<InputError>("layer {} was not probed in this run", probe_layer_name(l));
}

bool WordIndexResults::all_converged() const {
  return std::all_of(layers.begin(), layers.end(),
                     [](const LayerProbeResult& r) { return r.probe.converged && r.control_probe.converged; });
}

namespace {

// Layers to probe, sorted and unique (empty: embed and every block).
std::vector<int> probed_layers(const WordIndexExperimentOptions& o, const ModelConfig& c) {
  std::vector<int> layers = o.layers;
  if (layers.empty())
    for (int l = -1; l < c.n_layers; ++l) layers.push_back(l);
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

// Features of every probed layer: from the activation cache when given, else from the
// checkpoint's (so an interrupted run does not extract again), else extracted in memory.
ActivationFeatures features_for(const Model& model, const WordIndexDataset& ds, const std::vector<int>& layers,
                                const WordIndexExperimentOptions& o) {
  namespace fs = std::filesystem;
  if (!o.checkpoint_dir.empty()) fs::create_directories(o.checkpoint_dir);
  const std::string file = !o.activations_cache.empty() ? o.activations_cache
                           : o.checkpoint_dir.empty()   ? ""
                                                        : (fs::path(o.checkpoint_dir) / "features.h5").string();
  if (file.empty()) return {extract_features(model, ds.train, layers, o.extract), extract_features(model, ds.val, layers, o.extract)};
  return load_or_extract_features(file, model, ds, layers, o.extract);
}

// The probe and control probe of one layer. A layer finished before an interruption is read
// back from its checkpoint (probes are deterministic, so this equals retraining); otherwise
// trained and checkpointed.
std::pair<LogisticProbe, LogisticProbe> train_layer_probes(int layer, const at::Tensor& X, const at::Tensor& y, const at::Tensor& control_y,
                                                           std::int64_t n_classes, const WordIndexExperimentOptions& o) {
  namespace fs = std::filesystem;
  const auto checkpoint = o.checkpoint_dir.empty() ? std::string()
                                                   : (fs::path(o.checkpoint_dir) / ("layer_" + probe_layer_name(layer) + ".h5")).string();
  const auto settings = fmt::format("C={} tol={} max_iter={} history={} standardize={}", o.probe.C, o.probe.tol, o.probe.max_iter,
                                    o.probe.history, o.probe.standardize);
  if (!checkpoint.empty() && fs::exists(checkpoint)) {
    H5Reader in(checkpoint);
    if (in.attribute("probe_settings") != settings)
      fail<InputError>("checkpoint '{}' was trained with other probe settings ({}), not {}; delete the checkpoint", checkpoint,
                       in.attribute("probe_settings").value_or("none"), settings);
    return {read_probe(in, "probe"), read_probe(in, "control")};
  }
  std::pair<LogisticProbe, LogisticProbe> probes{train_logistic(X, y, n_classes, o.probe), train_logistic(X, control_y, n_classes, o.probe)};
  if (!checkpoint.empty()) {
    H5Writer out(checkpoint, /*overwrite=*/false);
    write_probe(out, "probe", probes.first);
    write_probe(out, "control", probes.second);
    out.write_attribute("probe_settings", settings);
    out.commit();
  }
  return probes;
}

std::vector<LayerProbeResult> probe_every_layer(const WordIndexDataset& ds, const std::vector<int>& layers,
                                                const ActivationFeatures& features, const WordIndexExperimentOptions& o) {
  const int K = ds.n_classes();
  const auto y_train = labels_of(ds.train), y_val = labels_of(ds.val);
  const auto control_train = at::tensor(control_labels(ds.train, K, o.data.seed), at::kLong);
  const auto control_val = at::tensor(control_labels(ds.val, K, o.data.seed), at::kLong);
  std::vector<LayerProbeResult> out;
  Progress training("training probes", static_cast<std::int64_t>(layers.size()), o.extract.progress);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerProbeResult lr;
    lr.layer = layers[i];
    const auto& X_train = features.train[i];
    const auto& X_val = features.val[i];
    std::tie(lr.probe, lr.control_probe) = train_layer_probes(lr.layer, X_train, y_train, control_train, K, o);
    lr.train_accuracy = lr.probe.predict(X_train).eq(y_train).to(at::kDouble).mean().item<double>();
    lr.val = evaluate_predictions(lr.probe.predict(X_val), ds.val, K);
    lr.control_accuracy = lr.control_probe.predict(X_val).eq(control_val).to(at::kDouble).mean().item<double>();
    out.push_back(std::move(lr));
    training.advance();
  }
  training.finish();
  return out;
}


// The run holds every probed layer's features in memory as float32 (train and validation
// points x d_model), and the solver a float64 copy of one layer's training features: a lower
// bound on its peak, known before the dataset is built. Refused when it exceeds what the
// machine has available, rather than found out after minutes of growth (#17: 10^7 points).
void check_feature_memory(const ModelConfig& c, const WordIndexExperimentOptions& o, std::size_t n_layers) {
  const double train = o.data.train_points, val = static_cast<double>(o.data.val_prompts) * o.data.n_units;
  const double bytes = (train + val) * static_cast<double>(c.d_model) * 4.0 * static_cast<double>(n_layers) +
                       train * static_cast<double>(c.d_model) * 8.0;
  require_available_memory(bytes, fmt::format("the features of {} training points and {} validation prompts over {} layers (d_model {})",
                                              o.data.train_points, o.data.val_prompts, n_layers, c.d_model),
                           "use fewer points, prompts or layers");
}

}  // namespace

WordIndexResults run_word_index_experiment(const Model& model, const WordIndexExperimentOptions& o) {
  const auto& c = model.config();
  WordIndexResults r;
  const auto layers = probed_layers(o, c);
  check_feature_memory(c, o, layers.size());
  r.main_layer = o.main_layer == -2 ? std::min<int>(3, static_cast<int>(c.n_layers) - 1) : o.main_layer;
  if (std::find(layers.begin(), layers.end(), r.main_layer) == layers.end()) r.main_layer = layers.back();
  r.dataset = WordIndexDataset::generate(model.tokenizer(), o.data);

  auto t0 = std::chrono::steady_clock::now();
  const auto features = features_for(model, r.dataset, layers, o);
  r.extract_seconds = seconds_since(t0);
  if (!o.activations_cache.empty()) r.input_files.push_back(o.activations_cache);
  t0 = std::chrono::steady_clock::now();
  r.layers = probe_every_layer(r.dataset, layers, features, o);
  r.train_seconds = seconds_since(t0);

  r.abs_position_baseline = feature_baseline(r.dataset, [](const Prompt&, const ProbePoint& pt) { return pt.position; });
  r.space_count_baseline = feature_baseline(r.dataset, [](const Prompt& p, const ProbePoint& pt) { return space_count(p, pt.position); });
  // "Works" is judged against absolute position, the explanation the experiment rules out. The
  // space count is reported beside it: in the words scheme it equals the word index + 1 by
  // construction, so it measures how easy the confound makes the task, not a bar to beat.
  for (const auto& lr : r.layers)
    if (lr.val.accuracy >= r.abs_position_baseline.accuracy + o.works_margin) {
      r.earliest_working_layer = lr.layer;
      break;
    }
  return r;
}

nlohmann::json WordIndexResults::summary(const Model& model) const {
  auto finite = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json layer_list = nlohmann::json::array();
  for (const auto& lr : layers) {
    nlohmann::json per_label = nlohmann::json::array();
    for (double v : lr.val.per_label) per_label.push_back(finite(v));
    layer_list.push_back({{"layer", probe_layer_name(lr.layer)},
                          {"hook", to_string(probe_layer_hook(lr.layer))},
                          {"val_accuracy", lr.val.accuracy},
                          {"train_accuracy", lr.train_accuracy},
                          {"val_accuracy_per_word", per_label},
                          {"control_accuracy", lr.control_accuracy},
                          {"selectivity", lr.selectivity()},
                          {"converged", lr.probe.converged && lr.control_probe.converged},
                          {"iterations", lr.probe.iterations}});
  }
  const auto& o = dataset.options;
  return {{"experiment", "word_index"},
          {"model", model.config().name},
          {"provenance", provenance(model, input_files)},
          {"dataset",
           {{"scheme", to_string(o.scheme)},
            {"source", to_string(o.source)},
            {"words", o.n_units},
            {"word_lengths", o.unit_lengths},
            {"readout", o.readout == Readout::LastToken ? "last" : "first"},
            {"balanced_positions", o.balance_positions},
            {"prefix", o.prefix},
            {"bos", o.bos},
            {"seed", o.seed},
            {"train_points", dataset.train.points.size()},
            {"val_points", dataset.val.points.size()},
            {"val_prompts", dataset.val.prompts.size()}}},
          {"chance", chance()},
          {"layers", layer_list},
          {"main_layer", probe_layer_name(main_layer)},
          {"val_accuracy", layer(main_layer).val.accuracy},
          {"baselines", {{"abs_position", abs_position_baseline.accuracy}, {"space_count", space_count_baseline.accuracy}}},
          {"control_accuracy", layer(main_layer).control_accuracy},
          {"selectivity", layer(main_layer).selectivity()},
          {"earliest_working_layer", earliest_working_layer ? nlohmann::json(probe_layer_name(*earliest_working_layer)) : nlohmann::json(nullptr)},
          {"converged", all_converged()},
          {"seconds", {{"extract", extract_seconds}, {"train", train_seconds}}}};
}

}  // namespace patchbay
