#pragma once
// Prompt pairs and probes for random models (no tokenizer needed).
#include <ATen/ATen.h>

#include "patchbay/data/pairs.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay::test {

inline Prompt prompt_of(const at::Tensor& ids) {
  Prompt p;
  for (std::int64_t i = 0; i < ids.size(0); ++i) p.tokens.push_back(ids[i].item<std::int64_t>());
  p.unit.assign(p.tokens.size(), 0);
  return p;
}

// n pairs of random token sequences of `length`, differing from `first_difference` on; the
// target is the last token.
inline std::vector<PromptPair> random_pairs(int n, std::int64_t length, std::int64_t vocab, std::uint64_t seed,
                                            std::int64_t first_difference = 0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<PromptPair> pairs;
  for (int i = 0; i < n; ++i) {
    auto clean = at::randint(vocab, {length}, gen, at::kLong);
    auto corrupted = clean.clone();
    corrupted.narrow(0, first_difference, length - first_difference)
        .copy_(at::randint(vocab, {length - first_difference}, gen, at::kLong));
    pairs.push_back({prompt_of(clean), prompt_of(corrupted), static_cast<std::int32_t>(length - 1), 1, 2});
  }
  return pairs;
}

// The pairs with random answer tokens for the output metrics (correct != incorrect).
inline std::vector<PromptPair> with_answers(std::vector<PromptPair> pairs, std::int64_t vocab, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : pairs) {
    p.correct = at::randint(vocab, {1}, gen, at::kLong).item<std::int64_t>();
    p.incorrect = (p.correct + 1 + at::randint(vocab - 1, {1}, gen, at::kLong).item<std::int64_t>()) % vocab;
  }
  return pairs;
}

inline LogisticProbe random_probe(std::int64_t d_model, std::int64_t classes, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  LogisticProbe p;
  p.W = at::randn({d_model, classes}, gen, at::kFloat);
  p.b = at::randn({classes}, gen, at::kFloat);
  return p;
}

}  // namespace patchbay::test

#include "patchbay/model/random_model.hpp"

namespace patchbay::test {
// One small random model of each family: GPT-2 (LayerNorm, learned positions, GELU) and Llama
// (RMSNorm, rotary, SwiGLU, grouped-query attention with 2 kv heads for 4 query heads).
inline std::vector<Model> both_families(std::uint64_t seed) {
  std::vector<Model> out;
  out.push_back(random_model(gpt2_like_config(3, 32, 4, 61, 16), seed));
  out.push_back(random_model(llama_like_config(3, 32, 4, 2, 40, 61, 16), seed + 1));
  return out;
}

// Uniform random token ids [batch, pos] in [0, vocab), deterministic in `seed`.
inline at::Tensor random_tokens(std::int64_t batch, std::int64_t pos, std::int64_t vocab, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(vocab, {batch, pos}, gen, at::kLong);
}
}  // namespace patchbay::test
