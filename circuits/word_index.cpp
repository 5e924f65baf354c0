// The word-index probing experiment on the default model (GPT-2 Small when its weights are
// present, otherwise stories260K), as a short driver over the library.
//
//   build/circuits/word_index [OUT.h5]
#include <filesystem>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/model/load.hpp"

int main(int argc, char** argv) try {
  using namespace patchbay;
  configure_threads();
  const Model model = load_model(default_model_dir());
  const auto options = default_word_index_options(model);  // 7 words, 10,000 training points, all layers

  const auto results = run_word_index_experiment(model, options);

  std::filesystem::create_directories("results/word_index");
  const std::string out = argc > 1 ? argv[1] : fmt::format("results/word_index/{}_driver.h5", model.config().name);
  write_word_index_results(out, /*overwrite=*/true, model, options, results);
  for (const auto& layer : results.layers)
    fmt::print("layer {:>5}: accuracy {:.3f} (control {:.3f})\n", probe_layer_name(layer.layer), layer.val.accuracy,
               layer.control_accuracy);
  fmt::print("absolute-position baseline {:.3f}; results in {}\n", results.abs_position_baseline.accuracy, out);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
