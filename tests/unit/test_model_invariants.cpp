// Identities TransformerLens users rely on, on random models of both families.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "../support/random_pairs.hpp"
#include "patchbay/model/random_model.hpp"

using namespace patchbay;
using test::random_tokens;

namespace {
std::vector<Model> both_families() {
  std::vector<Model> models;
  models.push_back(random_model(gpt2_like_config(3, 32, 4, 97, 24), 1));
  models.push_back(random_model(llama_like_config(3, 32, 4, 2, 40, 97, 24), 2));  // grouped-query attention
  return models;
}
}  // namespace

TEST_CASE("residual stream identities hold at every layer", "[model][invariants]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    auto tokens = random_tokens(2, 11, c.d_vocab, 3);
    auto [logits, cache] = model.run_with_cache(tokens, filters::all());
    for (int l = 0; l < c.n_layers; ++l) {
      INFO("layer " << l);
      auto pre = cache.at(hook::resid_pre(l)), mid = cache.at(hook::resid_mid(l)), post = cache.at(hook::resid_post(l));
      CHECK(at::allclose(mid, pre + cache.at(hook::attn_out(l)), 0, 1e-6));
      CHECK(at::allclose(post, mid + cache.at(hook::mlp_out(l)), 0, 1e-6));
      if (l + 1 < c.n_layers) CHECK(at::equal(post, cache.at(hook::resid_pre(l + 1))));

      // attn_out = sum over heads of hook_result + b_O
      auto heads = cache.at({Site::Result, l}).sum(2);
      const auto& b_O = model.weights().layers[l].b_O;
      CHECK(at::allclose(cache.at(hook::attn_out(l)), b_O.defined() ? heads + b_O : heads, 1e-5, 1e-6));

      // patterns are causal probability distributions
      auto pattern = cache.at(hook::pattern(l));  // [batch, head, q, k]
      CHECK(pattern.sizes() == at::IntArrayRef({2, c.n_heads, 11, 11}));
      CHECK(at::allclose(pattern.sum(-1), at::ones({2, c.n_heads, 11}), 0, 1e-6));
      CHECK(pattern.triu(1).abs().max().item<float>() == 0.0f);
      CHECK(pattern.min().item<float>() >= 0.0f);
    }
    CHECK(logits.sizes() == at::IntArrayRef({2, 11, c.d_vocab}));
  }
}

TEST_CASE("observing every hook does not change the pass", "[model][hooks]") {
  // Unobserved passes take fused and in-place shortcuts (fused norms, sums into fresh block
  // outputs, in-place activations); with every hook cached they take none.
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    INFO(to_string(model.config().arch));
    auto tokens = random_tokens(3, 9, model.config().d_vocab, 8);
    auto plain = model.forward(tokens);
    auto [observed, cache] = model.run_with_cache(tokens, filters::all());
    CHECK(at::allclose(plain, observed, 1e-5, 1e-5));
    auto resid = model.forward(tokens, ForwardOptions().stop_after(1));
    CHECK(at::allclose(resid, cache.at(hook::resid_post(1)), 1e-5, 1e-6));
  }
}

TEST_CASE("attention's BLAS kernels and libtorch's batched products agree", "[model][forward]") {
  // Without autograd attention runs on per-head BLAS calls over strided q, k, v; with a graph to
  // record it runs on libtorch's batched products. Same pass, both ways, both families (the
  // Llama one with grouped-query attention), full and over cached keys.
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    auto tokens = random_tokens(2, 10, c.d_vocab, 11);
    at::Tensor resid_1, blas, blas_suffix;
    KeyValuePrefix prefix;
    {
      at::InferenceMode no_grad;
      auto [out, cache] = model.run_with_cache(tokens, filters::all(), ForwardOptions().stop_after(2));
      resid_1 = cache.at(hook::resid_pre(1)).clone();
      blas = out;
      prefix = key_value_prefix(cache, c, 1, 2, 6);
      blas_suffix = model.forward(tokens.narrow(1, 6, 4),
                                  ForwardOptions().start_at(1, resid_1.narrow(1, 6, 4)).stop_after(2).suffix(6, &prefix));
    }
    auto start = resid_1.clone().requires_grad_(true);  // a graph to record: the batched products
    auto batched = model.forward(tokens, ForwardOptions().start_at(1, start).stop_after(2));
    CHECK(batched.requires_grad());
    CHECK(at::allclose(batched.detach(), blas, 1e-5, 1e-5));
    auto start_suffix = resid_1.narrow(1, 6, 4).clone().requires_grad_(true);
    auto batched_suffix = model.forward(tokens.narrow(1, 6, 4), ForwardOptions().start_at(1, start_suffix).stop_after(2).suffix(6, &prefix));
    CHECK(at::allclose(batched_suffix.detach(), blas_suffix, 1e-5, 1e-5));
    CHECK(at::allclose(blas_suffix, blas.narrow(1, 6, 4), 1e-5, 1e-5));
  }
}

TEST_CASE("hook shapes follow TransformerLens", "[model][hooks]") {
  at::InferenceMode no_grad;
  auto model = random_model(llama_like_config(2, 32, 4, 2, 40, 97, 24), 5);
  auto [logits, cache] = model.run_with_cache(random_tokens(3, 7, 97, 1), filters::all());
  using S = std::vector<std::int64_t>;
  CHECK(cache.at(hook::embed()).sizes().vec() == S{3, 7, 32});
  CHECK(cache.at({Site::Q, 1}).sizes().vec() == S{3, 7, 4, 8});
  CHECK(cache.at({Site::K, 1}).sizes().vec() == S{3, 7, 2, 8});  // kv heads
  CHECK(cache.at({Site::RotK, 1}).sizes().vec() == S{3, 7, 2, 8});
  CHECK(cache.at({Site::AttnScores, 0}).sizes().vec() == S{3, 4, 7, 7});
  CHECK(cache.at({Site::Z, 0}).sizes().vec() == S{3, 7, 4, 8});
  CHECK(cache.at({Site::Result, 0}).sizes().vec() == S{3, 7, 4, 32});
  CHECK(cache.at({Site::Ln1Scale, 0}).sizes().vec() == S{3, 7, 1});
  CHECK(cache.at({Site::MlpPreLinear, 0}).sizes().vec() == S{3, 7, 40});
  CHECK(cache.at(hook::ln_final_normalized()).sizes().vec() == S{3, 7, 32});
  CHECK(cache.size() == all_hook_points(model.config()).size());
}

TEST_CASE("a replacing hook changes everything downstream and nothing upstream", "[model][hooks]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    INFO(to_string(model.config().arch));
    auto tokens = random_tokens(1, 9, model.config().d_vocab, 4);
    auto [clean_logits, clean] = model.run_with_cache(tokens, filters::all());

    // Replace head 2's output at position 5 of layer 1.
    auto handle = model.add_hook(hook::z(1), [](at::Tensor& z, HookId) {
      z = z.clone();
      z.index_put_({at::indexing::Slice(), 5, 2}, 1.0);
    });
    auto [patched_logits, patched] = model.run_with_cache(tokens, filters::all());

    for (HookId id : all_hook_points(model.config())) {
      int order = forward_order(id, model.config());
      bool upstream = order < forward_order(hook::z(1), model.config());
      INFO(to_string(id));
      if (upstream) CHECK(at::equal(clean.at(id), patched.at(id)));
    }
    auto diff = (patched_logits - clean_logits).abs().amax({0, 2});  // per position
    CHECK(diff.narrow(0, 0, 5).max().item<float>() == 0.0f);  // earlier positions cannot see it
    CHECK(diff.narrow(0, 5, 4).min().item<float>() > 0.0f);  // position 5 and later all change
    CHECK_FALSE(at::equal(clean.at(hook::resid_post(2)), patched.at(hook::resid_post(2))));
  }
}

TEST_CASE("stopping after a layer and starting at a layer reproduce the full pass", "[model][forward]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    INFO(to_string(model.config().arch));
    auto tokens = random_tokens(2, 8, model.config().d_vocab, 6);
    auto [logits, cache] = model.run_with_cache(tokens, filters::sites({Site::ResidPre, Site::ResidPost}));
    auto stopped = model.forward(tokens, ForwardOptions().stop_after(1));
    CHECK(at::equal(stopped, cache.at(hook::resid_post(1))));
    auto resumed = model.forward(tokens, ForwardOptions().start_at(2, cache.at(hook::resid_pre(2))));
    CHECK(at::allclose(resumed, logits, 0, 1e-6));
    auto middle = model.forward(tokens, ForwardOptions().start_at(1, cache.at(hook::resid_pre(1))).stop_after(1));
    CHECK(at::allclose(middle, cache.at(hook::resid_post(1)), 0, 1e-6));
  }
}

TEST_CASE("hooks are removed when their handle goes out of scope, even on exceptions", "[model][hooks]") {
  at::InferenceMode no_grad;
  auto model = random_model(gpt2_like_config(2, 16, 2, 31, 8), 7);
  auto tokens = random_tokens(1, 4, 31, 1);
  int calls = 0;
  try {
    auto handle = model.add_hook(hook::resid_post(0), [&](at::Tensor&, HookId) {
      ++calls;
      throw std::runtime_error("boom");
    });
    model.forward(tokens);
  } catch (const std::runtime_error&) {
  }
  CHECK(calls == 1);
  CHECK_FALSE(model.hooks().any_active());
  model.forward(tokens);
  CHECK(calls == 1);

  HookHandle moved;
  {
    auto handle = model.add_hook("blocks.1.hook_mlp_out", [&](at::Tensor&, HookId) { ++calls; });
    moved = std::move(handle);
  }
  model.forward(tokens);
  CHECK(calls == 2);  // the moved-to handle keeps the hook alive
  moved.remove();
  model.forward(tokens);
  CHECK(calls == 2);
}

TEST_CASE("hooks a pass cannot reach are refused instead of silently never firing", "[model][hooks][errors]") {
  at::InferenceMode no_grad;
  auto model = random_model(gpt2_like_config(3, 16, 2, 31, 8), 8);
  auto tokens = random_tokens(1, 4, 31, 2);
  auto handle = model.add_hook(hook::resid_post(2), [](at::Tensor&, HookId) {});
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().stop_after(1)),
                    Catch::Contains("blocks.2.hook_resid_post would never fire"));
  auto early = model.add_hook(hook::embed(), [](at::Tensor&, HookId) {});
  auto resid = at::zeros({1, 4, 16});
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().start_at(1, resid)), Catch::Contains("hook_embed would never fire"));
}

TEST_CASE("suffix passes over cached keys and values reproduce the full pass", "[model][forward][suffix]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    const int L = static_cast<int>(c.n_layers) - 1;
    auto tokens = random_tokens(3, 10, c.d_vocab, 9);
    auto hooks = key_value_hooks(c, 0, L);
    hooks.push_back(hook::resid_pre(1));
    hooks.push_back(hook::resid_post(1));
    auto [logits, cache] = model.run_with_cache(tokens, filters::only(hooks));
    for (std::int64_t p : {1, 4, 9}) {
      INFO("offset " << p);
      auto prefix = key_value_prefix(cache, c, 0, L, p);
      auto suffix_logits = model.forward(tokens.narrow(1, p, 10 - p), ForwardOptions().suffix(p, &prefix));
      CHECK(at::allclose(suffix_logits, logits.narrow(1, p, 10 - p), 1e-5, 1e-5));

      // From a middle layer, stopping early, last position only.
      auto resid = cache.at(hook::resid_pre(1)).narrow(1, p, 10 - p);
      auto mid = model.forward(tokens.narrow(1, p, 10 - p),
                               ForwardOptions().start_at(1, resid).stop_after(1).suffix(p, &prefix).only_last_position());
      CHECK(mid.sizes() == at::IntArrayRef({3, 1, c.d_model}));
      CHECK(at::allclose(mid, cache.at(hook::resid_post(1)).narrow(1, 9, 1), 1e-5, 1e-5));
    }
    // One prefix row serves a whole batch of variants of the same prompt.
    auto one = tokens.narrow(0, 0, 1);
    auto [one_logits, one_cache] = model.run_with_cache(one, filters::only(key_value_hooks(c, 0, L)));
    auto prefix = key_value_prefix(one_cache, c, 0, L, 6);
    auto batch = one.narrow(1, 6, 4).repeat({4, 1});
    auto out = model.forward(batch, ForwardOptions().suffix(6, &prefix));
    for (int b = 0; b < 4; ++b) CHECK(at::allclose(out[b], one_logits[0].narrow(0, 6, 4), 1e-5, 1e-5));
  }
}

TEST_CASE("suffix pass arguments are checked", "[model][forward][errors]") {
  at::InferenceMode no_grad;
  auto model = random_model(gpt2_like_config(2, 16, 2, 31, 8), 3);
  auto tokens = random_tokens(1, 4, 31, 1);
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().suffix(2, nullptr)), Catch::Contains("needs the keys and values"));
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().suffix(6, nullptr)), Catch::Contains("exceed the model's context of 8"));
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().only_last_position()), Catch::Contains("needs stop_after_layer"));
  auto handle = model.add_hook(hook::z(1), [](at::Tensor&, HookId) {});
  CHECK_THROWS_WITH(model.forward(tokens, ForwardOptions().stop_after(1).only_last_position()),
                    Catch::Contains("sits at the stop layer"));
}

TEST_CASE("a copied model has hooks of its own", "[model][hooks]") {
  auto original = random_model(gpt2_like_config(2, 32, 4, 61, 16), 5);
  const auto tokens = at::randint(61, {2, 5}, at::kLong);
  const auto before = original.forward(tokens);
  Model copy = original;
  int fired = 0;
  auto handle = copy.add_hook(hook::resid_post(0), [&](at::Tensor& act, HookId) {
    ++fired;
    act = at::zeros_like(act);
  });
  CHECK(at::equal(original.forward(tokens), before));  // the copy's hook does not fire here
  CHECK(fired == 0);
  CHECK_FALSE(at::equal(copy.forward(tokens), before));
  CHECK(fired == 1);
  Model assigned = random_model(gpt2_like_config(2, 32, 4, 61, 16), 6);
  assigned = copy;
  CHECK(at::equal(assigned.forward(tokens), before));  // assignment does not take the hooks either
  CHECK(fired == 1);
}
