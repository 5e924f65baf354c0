// Hook names round-trip through the one name table; bad names list what exists.
#include <catch2/catch.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/edge_layout.hpp"

using namespace patchbay;

TEST_CASE("every hook name parses back to its id", "[hooks][names]") {
  for (const auto& c : {gpt2_like_config(3, 16, 2, 31, 8), llama_like_config(3, 16, 4, 2, 24, 31, 8)})
    for (HookId id : all_hook_points(c)) CHECK(parse_hook(to_string(id), c) == id);
  auto c = gpt2_like_config(12, 768, 12, 50257, 1024);
  CHECK(to_string(hook::resid_post(3)) == "blocks.3.hook_resid_post");
  CHECK(to_string({Site::Pattern, 11}) == "blocks.11.attn.hook_pattern");
  CHECK(to_string(hook::ln_final_scale()) == "ln_final.hook_scale");
  CHECK(parse_hook("blocks.0.ln1.hook_normalized", c) == HookId{Site::Ln1Normalized, 0});
  CHECK(all_hook_points(c).size() == 2 + 12 * 18 + 2);  // 21 block sites less rot_q, rot_k, pre_linear
}

TEST_CASE("unknown or out-of-range hook names are refused with the list of valid names", "[hooks][names][errors]") {
  auto gpt2 = gpt2_like_config(2, 16, 2, 31, 8);
  auto llama = llama_like_config(5, 16, 4, 2, 24, 31, 8);
  CHECK_THROWS_AS(parse_hook("blocks.2.hook_resid_post", gpt2), InputError);
  CHECK_THROWS_WITH(parse_hook("blocks.2.hook_resid_post", gpt2),
                    Catch::Contains("layer 2 is out of range, the model has layers 0..1") &&
                        Catch::Contains("blocks.{0..1}.hook_resid_post"));
  CHECK_THROWS_WITH(parse_hook("blocks.0.hook_resid_pots", gpt2), Catch::Contains("no block hook named 'hook_resid_pots'"));
  CHECK_THROWS_WITH(parse_hook("hook_pos_embed", llama), Catch::Contains("llama models have no hook_pos_embed"));
  CHECK_THROWS_WITH(parse_hook("blocks.0.attn.hook_rot_q", gpt2), Catch::Contains("gpt2 models have no attn.hook_rot_q"));
  CHECK_THROWS_WITH(parse_hook("blocks.x.hook_resid_pre", gpt2), Catch::Contains("'x' is not a layer number"));
  CHECK_THROWS_WITH(parse_hook("", gpt2), Catch::Contains("valid hooks: hook_tokens, hook_embed"));
  CHECK_THROWS_WITH(parse_hook("blocks.99999999999.hook_resid_pre", gpt2), Catch::Contains("is not a layer number"));
}

TEST_CASE("component names round-trip through the one formatter and parser, and bad ones are refused", "[names]") {
  for (int l : {0, 3, 11})
    for (std::int64_t h : {0, 5, 15}) {
      auto c = parse_component_name(head_name(l, h));
      REQUIRE(c);
      CHECK(c->kind == ComponentKind::Head);
      CHECK(c->layer == l);
      CHECK(c->head == h);
      auto mlp = parse_component_name(mlp_name(l));
      REQUIRE(mlp);
      CHECK((mlp->kind == ComponentKind::Mlp && mlp->layer == l && mlp->head == -1));
    }
  CHECK(parse_component_name("a2.h1<k>")->side == 'k');
  CHECK(parse_component_name("input")->kind == ComponentKind::Input);
  CHECK(parse_component_name("readout")->kind == ComponentKind::Readout);
  CHECK(parse_component_name("logits")->kind == ComponentKind::Readout);  // EAP-IG's name for the sink
  const auto neuron = parse_component_name(neuron_name(2, 17));
  REQUIRE(neuron);
  CHECK((neuron->kind == ComponentKind::Neuron && neuron->layer == 2 && neuron->neuron == 17 && neuron->head == -1));
  CHECK(neuron_name(2, 17) == "m2.n17");
  for (auto name : {"input", "readout", "a0.h0", "a11.h3<q>", "a2.h1<v>", "m7", "m2.n17"}) CHECK(parse_component_name(name)->name() == name);
  for (auto bad : {"", "a", "a1", "a1.h", "a1.hx", "a-1.h2", "a1.h2<x>", "a1.h2<q", "a1.h2q", "m", "mx", "m1x", "m99999999999",
                   "a1.h99999999999", "b1.h2", " m1", "logit", "m1.n", "m1.nx", "m1.n2<q>", "m1.h2", "a1.h2.n3"})
    CHECK_FALSE(parse_component_name(bad));
}
