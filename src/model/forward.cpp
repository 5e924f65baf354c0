// Model::forward: embeddings -> blocks -> final norm -> unembedding, with hooks.
#include <ATen/ATen.h>

#include "components.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {
namespace {

void check_tokens(const at::Tensor& tokens, const ModelConfig& config) {
  if (!tokens.defined() || tokens.dim() != 2)
    fail<InputError>("tokens must be a [batch, pos] tensor, got {} dimensions", tokens.defined() ? tokens.dim() : 0);
  if (tokens.scalar_type() != at::kLong) fail<InputError>("tokens must be int64, got {}", at::toString(tokens.scalar_type()));
  if (tokens.size(0) == 0 || tokens.size(1) == 0)
    fail<InputError>("empty prompt: tokens have shape [{}, {}], expected at least one token", tokens.size(0),
                     tokens.size(1));
  if (tokens.size(1) > config.n_ctx)
    fail<InputError>("prompt of {} tokens is longer than the model's context of {} tokens", tokens.size(1),
                     config.n_ctx);
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
  }
}

}  // namespace

at::Tensor Model::forward(const at::Tensor& tokens_in, const ForwardOptions& options) const {
  check_tokens(tokens_in, config_);
  check_layers(options, config_, tokens_in);
  check_hooks_reachable(*hooks_, options, config_);
  const detail::Hooks hooks{*hooks_};
  const auto tokens = tokens_in.to(device());
  const auto batch = tokens.size(0), pos = tokens.size(1);

  at::Tensor resid;  // [batch, pos, d_model]
  if (options.start_layer == 0) {
    resid = hooks.fire(Site::Embed, -1, weights_.W_E.index_select(0, tokens.reshape(-1)).view({batch, pos, -1}));
    if (config_.positions == PositionKind::Learned) {
      auto pos_embed = weights_.W_pos.narrow(0, 0, pos).unsqueeze(0).expand({batch, pos, config_.d_model});
      resid = resid + hooks.fire(Site::PosEmbed, -1, pos_embed);
    }
  } else {
    resid = options.start_resid.to(device());
  }

  const int last_layer = options.stop_after_layer < 0 ? static_cast<int>(config_.n_layers) - 1 : options.stop_after_layer;
  for (int layer = options.start_layer; layer <= last_layer; ++layer) {
    const auto& w = weights_.layers[static_cast<std::size_t>(layer)];
    resid = hooks.fire(Site::ResidPre, layer, resid);
    auto x1 = detail::norm(resid, w.ln1, config_, hooks, Site::Ln1Scale, Site::Ln1Normalized, layer);
    resid = hooks.fire(Site::ResidMid, layer, resid + detail::attention(x1, w, config_, hooks, layer, rope_cos_, rope_sin_));
    auto x2 = detail::norm(resid, w.ln2, config_, hooks, Site::Ln2Scale, Site::Ln2Normalized, layer);
    resid = hooks.fire(Site::ResidPost, layer, resid + detail::mlp(x2, w, config_, hooks, layer));
  }
  if (options.stop_after_layer >= 0) return resid;

  auto x = detail::norm(resid, weights_.ln_final, config_, hooks, Site::LnFinalScale, Site::LnFinalNormalized, -1);
  return detail::linear(x, weights_.W_U, weights_.b_U);  // [batch, pos, d_vocab]
}

}  // namespace patchbay
