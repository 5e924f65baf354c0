// The counting-circuit study on the default model: train the word-index probe (or reuse the
// main job's), then find the heads and MLPs that compute the feature it reads.
//
//   build/circuits/counting_circuit [METHOD]      METHOD: eap (default), eap-ig, path
#include <filesystem>

#include <fmt/format.h>

#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/model/load.hpp"

int main(int argc, char** argv) try {
  using namespace patchbay;
  configure_threads();
  const Model model = load_model(default_model_dir());

  // 1. The probe: the word-index experiment's result for this model, made now if missing.
  std::filesystem::create_directories("results/word_index");
  const auto probe_file = fmt::format("results/word_index/{}_seed0.h5", model.config().name);
  if (!std::filesystem::exists(probe_file)) {
    const auto options = default_word_index_options(model);
    write_word_index_results(probe_file, false, model, options, run_word_index_experiment(model, options));
  }
  const auto probe = load_probe_for(model, probe_file);

  // 2. Pairs from the probe's own distribution; the original's 3|1 vs 1|2|1 where it allows.
  CountingCircuitOptions options;
  options.method = parse_edge_method(argc > 1 ? argv[1] : "eap");
  options.pairs = pair_options_for(probe);

  // 3. Patching, attribution, ablation, head scores, the graph and its faithfulness.
  const auto results = run_counting_circuit(model, probe, options);

  std::filesystem::create_directories("results/counting");
  const auto out = fmt::format("results/counting/{}_{}_driver.h5", model.config().name, to_string(options.method));
  const auto written = write_counting_circuit(out, /*overwrite=*/true, model, probe, options, results);
  fmt::print("{}\n", results.summary().dump(2));
  fmt::print("wrote {} files, starting with {}\n", written.size(), out);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
