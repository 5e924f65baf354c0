// Model::forward: embeddings -> blocks -> final norm -> unembedding, with hooks.
#include <ATen/ATen.h>

#include "components.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {
namespace {

void check_tokens(const at::Tensor& tokens, const ModelConfig& config, bool check_ids) {
  if (!tokens.defined() || tokens.dim() != 2)
    fail<InputError>("tokens must be a [batch, pos] tensor, got {} dimensions", tokens.defined() ? tokens.dim() : 0);
  if (tokens.scalar_type() != at::kLong) fail<InputError>("tokens must be int64, got {}", at::toString(tokens.scalar_type()));
  if (tokens.size(0) == 0 || tokens.size(1) == 0)
    fail<InputError>("empty prompt: tokens have shape [{}, {}], expected at least one token", tokens.size(0),
                     tokens.size(1));
  if (tokens.size(1) > config.n_ctx)
    fail<InputError>("prompt of {} tokens is longer than the model's context of {} tokens", tokens.size(1),
                     config.n_ctx);
  if (!check_ids) return;
  auto [lo, hi] = at::aminmax(tokens);
  auto min_id = lo.item<std::int64_t>(), max_id = hi.item<std::int64_t>();
  if (min_id < 0 || max_id >= config.d_vocab)
    fail<InputError>("token ids must lie in [0, {}), got ids from {} to {}", config.d_vocab, min_id, max_id);
}

void check_layers(const ForwardOptions& o, const ModelConfig& config, const at::Tensor& tokens) {
  if (o.stop_after_layer < -1 || o.stop_after_layer >= config.n_layers)
    fail<InputError>("stop_after_layer = {} is out of range (expected -1 for logits or 0..{})", o.stop_after_layer,
                     config.n_layers - 1);
  if (o.start_layer < 0 || o.start_layer >= config.n_layers)
    fail<InputError>("start_layer = {} is out of range (expected 0..{})", o.start_layer, config.n_layers - 1);
  if (o.stop_after_layer >= 0 && o.stop_after_layer < o.start_layer)
    fail<InputError>("stop_after_layer = {} is before start_layer = {}", o.stop_after_layer, o.start_layer);
  const int stop = o.stop_after_layer < 0 ? static_cast<int>(config.n_layers) - 1 : o.stop_after_layer;
  if (o.position_offset < 0 || o.position_offset + tokens.size(1) > config.n_ctx)
    fail<InputError>("positions {}..{} exceed the model's context of {} tokens", o.position_offset,
                     o.position_offset + tokens.size(1) - 1, config.n_ctx);
  if (o.position_offset > 0) {
    if (o.past == nullptr) fail<InputError>("position_offset = {} needs the keys and values of the earlier positions", o.position_offset);
    if (o.past->length() != o.position_offset)
      fail<InputError>("past keys cover {} positions but position_offset is {}", o.past->length(), o.position_offset);
    for (int l = o.start_layer; l <= stop; ++l) {
      const auto idx = static_cast<std::size_t>(l);
      if (idx >= o.past->keys.size() || !o.past->keys[idx].defined() || !o.past->values[idx].defined())
        fail<InputError>("past keys/values lack layer {}", l);
      const auto pb = o.past->keys[idx].size(0);
      if (tokens.size(0) % pb != 0)
        fail<InputError>("past keys have batch {}, which does not divide the batch of {}", pb, tokens.size(0));
    }
  }
  if (o.last_position_only && o.stop_after_layer < 0)
    fail<InputError>("last_position_only needs stop_after_layer (it returns a residual stream, not logits)");
  if (o.start_layer > 0) {
    if (!o.start_resid.defined())
      fail<InputError>("start_layer = {} needs start_resid (blocks.{}.hook_resid_pre)", o.start_layer, o.start_layer);
    auto expected = std::vector<std::int64_t>{tokens.size(0), tokens.size(1), config.d_model};
    if (o.start_resid.sizes().vec() != expected)
      fail<InputError>("start_resid has shape {}, expected [{}, {}, {}]", shape_str(o.start_resid.sizes()),
                       expected[0], expected[1], expected[2]);
  }
}

// A hook installed at a point this pass never reaches would silently never fire.
void check_hooks_reachable(const HookRegistry& hooks, const ForwardOptions& o, const ModelConfig& config) {
  if (!hooks.any_active()) return;
  const int first = forward_order(hook::resid_pre(o.start_layer), config);
  const int last = o.stop_after_layer < 0 ? forward_order(hook::ln_final_normalized(), config)
                                          : forward_order(hook::resid_post(o.stop_after_layer), config);
  for (HookId id : hooks.active_points()) {
    int order = forward_order(id, config);
    if ((o.start_layer > 0 && order < first) || order > last)
      fail<InputError>("hook {} would never fire in a pass over layers {}..{}; remove it or widen the pass",
                       to_string(id), o.start_layer, o.stop_after_layer < 0 ? config.n_layers - 1 : o.stop_after_layer);
    if (o.last_position_only && id.layer == o.stop_after_layer && id.site != Site::ResidPre)
      fail<InputError>("hook {} sits at the stop layer of a last-position-only pass, where it would see one position",
                       to_string(id));
    // With split inputs every head normalises its own copy of the residual stream; TransformerLens
    // then fires ln1's hooks once per input with a head axis. patchbay has one ln1 hook per layer.
    const bool ln1 = id.site == Site::Ln1Scale || id.site == Site::Ln1Normalized;
    if (ln1 && detail::splits_attention_input(detail::Hooks{hooks}, id.layer))
      fail<InputError>("hooks on {} and on the split attention inputs of layer {} (hook_attn_in, hook_q_input, "
                       "hook_k_input, hook_v_input) cannot be combined: with split inputs each head applies ln1 to "
                       "its own input; hook one or the other",
                       to_string(id), id.layer);
  }
}

// block_out + resid. A block's output is a fresh tensor nobody else holds unless a hook saw it,
// so the sum goes into it in place (the same arithmetic, one allocation and pass fewer).
at::Tensor add_to_fresh(at::Tensor& block_out, const at::Tensor& resid, bool block_out_observed) {
  return block_out_observed ? resid + block_out : block_out.add_(resid);
}

}  // namespace

at::Tensor Model::forward(const at::Tensor& tokens_in, const ForwardOptions& options) const {
  check_tokens(tokens_in, config_, options.check_token_ids);
  check_layers(options, config_, tokens_in);
  check_hooks_reachable(*hooks_, options, config_);
  const detail::Hooks hooks{*hooks_};
  at::Tensor tokens = tokens_in.to(device());  // [batch, pos]
  if (hooks.active(Site::Tokens, -1)) {  // a hook may replace the tokens: check what it left
    tokens = hooks.fire(Site::Tokens, -1, tokens.clone());
    check_tokens(tokens, config_, /*check_ids=*/true);
    if (tokens.sizes() != tokens_in.sizes())
      fail<InputError>("a hook_tokens hook changed the tokens' shape from {} to {}", shape_str(tokens_in.sizes()),
                       shape_str(tokens.sizes()));
  }
  const auto batch = tokens.size(0), pos = tokens.size(1);

  const auto offset = options.position_offset;
  at::Tensor resid;  // [batch, pos, d_model]
  if (options.start_layer == 0) {
    resid = hooks.fire(Site::Embed, -1, weights_.W_E.index_select(0, tokens.reshape(-1)).view({batch, pos, -1}));
    if (config_.positions == PositionKind::Learned) {
      auto pos_embed = weights_.W_pos.narrow(0, offset, pos).unsqueeze(0).expand({batch, pos, config_.d_model});
      resid = resid + hooks.fire(Site::PosEmbed, -1, pos_embed);
    }
  } else {
    resid = options.start_resid.to(device());
  }

  // Past keys/values with batch B' serve groups of batch / B' consecutive rows.
  auto past_for = [&](const std::vector<at::Tensor>& per_layer, int layer) -> at::Tensor {
    if (options.past == nullptr || offset == 0) return {};
    auto t = per_layer[static_cast<std::size_t>(layer)].to(device());
    if (t.size(0) == batch) return t;
    if (t.size(0) == 1) return t.expand({batch, t.size(1), t.size(2), t.size(3)});
    return t.repeat_interleave(batch / t.size(0), 0);
  };

  const int last_layer = options.stop_after_layer < 0 ? static_cast<int>(config_.n_layers) - 1 : options.stop_after_layer;
  for (int layer = options.start_layer; layer <= last_layer; ++layer) {
    const auto& w = weights_.layers[static_cast<std::size_t>(layer)];
    const bool last_only = options.last_position_only && layer == last_layer;
    detail::AttentionContext ctx{offset, options.past ? past_for(options.past->keys, layer) : at::Tensor(),
                                 options.past ? past_for(options.past->values, layer) : at::Tensor(), last_only,
                                 options.ungroup_grouped_query_attention};
    resid = hooks.fire(Site::ResidPre, layer, resid);
    auto attn_out = detail::attention(resid, w, config_, hooks, layer, rope_cos_, rope_sin_, ctx);
    if (last_only) resid = resid.narrow(1, pos - 1, 1);
    resid = hooks.fire(Site::ResidMid, layer, add_to_fresh(attn_out, resid, hooks.active(Site::AttnOut, layer)));
    // hook_mlp_in sees a copy: replacing it changes the MLP's input, not resid_mid itself.
    auto mlp_in = hooks.active(Site::MlpIn, layer) ? hooks.fire(Site::MlpIn, layer, resid.clone()) : resid;
    auto x2 = detail::norm(mlp_in, w.ln2, config_, hooks, Site::Ln2Scale, Site::Ln2Normalized, layer);
    auto mlp_out = detail::mlp(x2, w, config_, hooks, layer);
    resid = hooks.fire(Site::ResidPost, layer, add_to_fresh(mlp_out, resid, hooks.active(Site::MlpOut, layer)));
  }
  if (options.stop_after_layer >= 0) return resid;

  auto x = detail::norm(resid, weights_.ln_final, config_, hooks, Site::LnFinalScale, Site::LnFinalNormalized, -1);
  return detail::linear(x, weights_.W_U, weights_.b_U);  // [batch, pos, d_vocab]
}

}  // namespace patchbay
