// TransformerLens's opt-in hook points (hook_tokens, hook_attn_in, hook_q/k/v_input,
// hook_mlp_in) and ungrouped keys and values: present when hooked, free otherwise, and exact.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "../support/random_pairs.hpp"
#include "patchbay/model/random_model.hpp"

using namespace patchbay;
using test::random_tokens;

namespace {
std::vector<Model> both_families() { return test::both_families(11); }  // the Llama one has grouped-query attention
std::vector<HookId> optional_points(const ModelConfig& c) {
  std::vector<HookId> out;
  for (HookId id : every_hook_point(c))
    if (is_optional_site(id.site)) out.push_back(id);
  return out;
}
}  // namespace

TEST_CASE("optional hooks parse, are left out of 'all', and equal the residual stream they copy", "[model][hooks]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    for (auto name : {"hook_tokens", "blocks.1.hook_attn_in", "blocks.1.hook_q_input", "blocks.1.hook_k_input",
                      "blocks.1.hook_v_input", "blocks.1.hook_mlp_in"})
      CHECK(is_optional_site(parse_hook(name, c).site));
    const auto points = optional_points(c);
    CHECK(points.size() == 1 + 5 * static_cast<std::size_t>(c.n_layers));
    for (HookId id : all_hook_points(c)) CHECK_FALSE(is_optional_site(id.site));

    auto tokens = random_tokens(2, 9, c.d_vocab, 5);
    auto plain = model.forward(tokens);
    auto [logits, with_all] = model.run_with_cache(tokens, filters::all());
    for (HookId id : points) CHECK_FALSE(with_all.contains(id));
    // Hooked (each layer's split inputs need the ln1 hooks off: see the conflict test).
    auto recorded = points;
    for (int l = 0; l < c.n_layers; ++l) {
      recorded.push_back(hook::resid_pre(l));
      recorded.push_back(hook::resid_mid(l));
    }
    auto [hooked_logits, cache] = model.run_with_cache(tokens, filters::only(recorded));
    CHECK(at::allclose(hooked_logits, plain, 1e-5, 1e-5));  // split inputs renormalise per head: float rounding only
    CHECK(at::equal(cache.at(hook::tokens()), tokens));
    for (int l = 0; l < c.n_layers; ++l) {
      INFO("layer " << l);
      const auto& pre = cache.at(hook::resid_pre(l));  // [batch, pos, d_model]
      CHECK(cache.at(hook::attn_in(l)).sizes() == at::IntArrayRef({2, 9, c.n_heads, c.d_model}));
      CHECK(cache.at(hook::k_input(l)).sizes() == at::IntArrayRef({2, 9, c.n_kv_heads, c.d_model}));
      for (HookId id : {hook::attn_in(l), hook::q_input(l), hook::k_input(l), hook::v_input(l)})
        CHECK(at::equal(cache.at(id), pre.unsqueeze(2).expand_as(cache.at(id))));
      CHECK(at::equal(cache.at(hook::mlp_in(l)), cache.at(hook::resid_mid(l))));
    }
  }
}

TEST_CASE("replacing one head's key input changes that head's keys alone", "[model][hooks]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    auto tokens = random_tokens(2, 8, c.d_vocab, 6);
    const int layer = 1;
    const std::int64_t head = 1;
    auto [_, before] = model.run_with_cache(tokens, filters::only({{Site::K, layer}, {Site::Q, layer}, {Site::V, layer}}));
    at::Tensor k_after, q_after, v_after;
    {
      auto patch = model.add_hook(hook::k_input(layer), [&](at::Tensor& x, HookId) {
        auto noise = at::randn_like(x.select(2, head));
        x.select(2, head).add_(noise);  // in place on the hook's own copy
      });
      auto [__, after] = model.run_with_cache(tokens, filters::only({{Site::K, layer}, {Site::Q, layer}, {Site::V, layer}}));
      k_after = after.at({Site::K, layer});
      q_after = after.at({Site::Q, layer});
      v_after = after.at({Site::V, layer});
    }
    const auto& k_before = before.at({Site::K, layer});  // [batch, pos, kv_head, d_head]
    for (std::int64_t g = 0; g < c.n_kv_heads; ++g) {
      const double change = (k_after.select(2, g) - k_before.select(2, g)).abs().max().item<double>();
      if (g == head) CHECK(change > 1e-2);
      else CHECK(change < 1e-5);
    }
    CHECK(at::allclose(q_after, before.at({Site::Q, layer}), 1e-5, 1e-5));
    CHECK(at::allclose(v_after, before.at({Site::V, layer}), 1e-5, 1e-5));
  }
}

TEST_CASE("hook_mlp_in and hook_tokens replace what the MLP and the embedding read", "[model][hooks]") {
  at::InferenceMode no_grad;
  for (auto& model : both_families()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    auto tokens = random_tokens(1, 6, c.d_vocab, 7);
    auto [_, ref] = model.run_with_cache(tokens, filters::only({hook::resid_mid(0), hook::mlp_out(0)}));
    {
      auto zero = model.add_hook(hook::mlp_in(0), [](at::Tensor& x, HookId) { x = at::zeros_like(x); });
      auto [__, cache] = model.run_with_cache(tokens, filters::only({hook::resid_mid(0), hook::mlp_out(0), hook::resid_post(0)}));
      CHECK(at::equal(cache.at(hook::resid_mid(0)), ref.at(hook::resid_mid(0))));  // a copy: resid_mid untouched
      CHECK_FALSE(at::allclose(cache.at(hook::mlp_out(0)), ref.at(hook::mlp_out(0))));
      CHECK(at::allclose(cache.at(hook::resid_post(0)), ref.at(hook::resid_mid(0)) + cache.at(hook::mlp_out(0)), 0, 1e-6));
    }
    auto other = (tokens + 1).remainder(c.d_vocab);
    auto expected = model.forward(other);
    {
      auto swap = model.add_hook(hook::tokens(), [&](at::Tensor& t, HookId) { t = other; });
      CHECK(at::equal(model.forward(tokens), expected));
    }
    auto bad = model.add_hook(hook::tokens(), [&](at::Tensor& t, HookId) { t = t + c.d_vocab; });
    CHECK_THROWS_WITH(model.forward(tokens), Catch::Contains("token ids must lie in"));
  }
}

TEST_CASE("ungrouped keys and values give the same pass, one key per query head", "[model][forward]") {
  at::InferenceMode no_grad;
  auto model = random_model(llama_like_config(2, 32, 4, 2, 40, 97, 24), 13);
  auto tokens = random_tokens(2, 7, 97, 9);
  auto [grouped_out, grouped] = model.run_with_cache(tokens, filters::only({{Site::RotK, 1}, {Site::V, 1}}));
  auto [ungrouped_out, ungrouped] = model.run_with_cache(tokens, filters::only({{Site::RotK, 1}, {Site::V, 1}, hook::k_input(1)}),
                                                         ForwardOptions().ungroup_kv());
  CHECK(at::allclose(grouped_out, ungrouped_out, 1e-5, 1e-5));
  CHECK(ungrouped.at(hook::k_input(1)).size(2) == 4);
  CHECK(ungrouped.at({Site::RotK, 1}).size(2) == 4);
  CHECK(at::allclose(ungrouped.at({Site::RotK, 1}), grouped.at({Site::RotK, 1}).repeat_interleave(2, 2), 1e-5, 1e-5));
  CHECK(at::allclose(ungrouped.at({Site::V, 1}), grouped.at({Site::V, 1}).repeat_interleave(2, 2), 1e-5, 1e-5));
}

TEST_CASE("ln1 hooks and split attention inputs of one layer are refused together", "[model][hooks][errors]") {
  auto model = random_model(gpt2_like_config(2, 32, 4, 97, 24), 14);
  auto tokens = random_tokens(1, 5, 97, 10);
  auto a = model.add_hook(hook::q_input(1), [](at::Tensor&, HookId) {});
  auto b = model.add_hook({Site::Ln1Normalized, 1}, [](at::Tensor&, HookId) {});
  CHECK_THROWS_WITH(model.forward(tokens), Catch::Contains("blocks.1.ln1.hook_normalized") && Catch::Contains("hook_q_input"));
  b.remove();
  auto c = model.add_hook({Site::Ln1Normalized, 0}, [](at::Tensor&, HookId) {});  // another layer: fine
  CHECK_NOTHROW(model.forward(tokens));
}
