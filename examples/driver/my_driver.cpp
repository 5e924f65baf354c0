// A driver built outside patchbay's tree against the installed package (see CMakeLists.txt):
// trains a word-index probe on the default model and patches every attention head's output
// from clean 3|1 prompts into corrupted 1|2|1 ones (2|1 vs 1|1|1 when the model's words are
// longer), printing the heads that carry the probe's word index. Then it defines pairs and a
// metric of its own and patches the heads again.
//
//   my_driver [MODEL_DIR]
#include <fmt/format.h>

#include <ATen/ATen.h>

#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/patching/patch.hpp"

int main(int argc, char** argv) try {
  using namespace patchbay;
  configure_threads();
  const Model model = load_model(argc > 1 ? argv[1] : default_model_dir());

  // 1. A probe for the word index at layer 3 (small sizes: this is an example).
  auto options = default_word_index_options(model);
  options.layers = {3};
  options.data.train_points = 1400;
  options.data.val_prompts = 100;
  options.extract.progress = 0;
  const auto run = run_word_index_experiment(model, options);
  fmt::print("probe at layer 3: validation accuracy {:.3f} (chance {:.3f})\n", run.layer(3).val.accuracy, run.chance());

  // 2. Token-aligned pairs from the probe's distribution, and the probe's logit difference.
  PairOptions pairs;
  pairs.prefix = options.data.prefix;
  pairs.n_pairs = 8;
  std::tie(pairs.clean_split, pairs.corrupted_split) = default_splits(options.data.unit_lengths);
  const auto prompt_pairs = token_aligned_pairs(model.tokenizer(), pairs);
  const ProbeLogitDiff metric(run.layer(3).probe, model.config(), 3, prompt_pairs.front().clean_label,
                              prompt_pairs.front().corrupted_label);

  // 3. Patch each head's hook_z, clean into corrupted: effect [layer, head].
  const auto result = patch_sweep(model, prompt_pairs, metric, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
  const auto effect = result.effect();
  const auto [values, index] = effect.flatten().topk(3);
  for (std::int64_t i = 0; i < 3; ++i) {
    const auto flat = index[i].item<std::int64_t>();
    fmt::print("a{}.h{}: normalised effect {:+.3f}\n", flat / effect.size(1), flat % effect.size(1), values[i].item<double>());
  }

  // 4. Pairs and a metric of your own: which heads carry the name into the logit of " the"?
  const auto& tok = model.tokenizer();
  PromptPair own;
  own.clean.tokens = tok.encode("Lily went to the park. Then Lily", /*bos=*/true);
  own.corrupted.tokens = tok.encode("Lily went to the park. Then she", /*bos=*/true);
  own.target = static_cast<std::int32_t>(own.clean.tokens.size()) - 1;
  const auto the = tok.encode_continuation(" the").front();
  const CustomMetric logit_of_the(model.config().n_layers - 1, [&](const at::Tensor& resid, const at::Tensor&) {
    return model.unembed(resid).select(1, the);  // resid [rows, d_model] at the target -> [rows]
  }, "the-logit", "logit of ' the'");
  const auto own_heads = patch_sweep(model, {own}, logit_of_the, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
  fmt::print("own metric: clean {:.3f}, corrupted {:.3f}\n", own_heads.clean.item<double>(), own_heads.corrupted.item<double>());
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
