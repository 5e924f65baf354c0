#include "patchbay/model/model.hpp"

#include <ATen/ATen.h>

#include "components.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {

std::vector<std::pair<std::string, at::Tensor*>> ModelWeights::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  auto add = [&](std::string name, at::Tensor& t) {
    if (t.defined()) out.emplace_back(std::move(name), &t);
  };
  add("W_E", W_E);
  add("W_pos", W_pos);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto& w = layers[l];
    auto name = [l](const char* field) { return fmt::format("blocks.{}.{}", l, field); };
    add(name("ln1.w"), w.ln1.w);
    add(name("ln1.b"), w.ln1.b);
    add(name("ln2.w"), w.ln2.w);
    add(name("ln2.b"), w.ln2.b);
    add(name("W_qkv"), w.W_qkv);
    add(name("b_qkv"), w.b_qkv);
    add(name("W_O"), w.W_O);
    add(name("b_O"), w.b_O);
    add(name("W_in"), w.W_in);
    add(name("b_in"), w.b_in);
    add(name("W_gate"), w.W_gate);
    add(name("W_out"), w.W_out);
    add(name("b_out"), w.b_out);
  }
  add("ln_final.w", ln_final.w);
  add("ln_final.b", ln_final.b);
  add("W_U", W_U);
  add("b_U", b_U);
  return out;
}

void ModelWeights::to(const at::Device& device) {
  for (auto& [name, t] : named_tensors()) *t = t->to(device);
}

void warn_non_finite(ModelWeights& weights, const std::string& what) {
  for (auto& [name, t] : weights.named_tensors())
    if (!at::isfinite(*t).all().item<bool>())
      fmt::print(stderr, "warning: {}: weight {} contains NaN or Inf values\n", what, name);
}

Model::Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      tokenizer_(std::move(tokenizer)),
      source_(std::move(source)),
      hooks_(std::make_shared<HookRegistry>(config_)) {
  config_.validate(source_.dir);
  if (static_cast<std::int64_t>(weights_.layers.size()) != config_.n_layers)
    fail<FormatError>("{}: {} layers of weights for a config with n_layers = {}", source_.dir, weights_.layers.size(),
                      config_.n_layers);
  if (tokenizer_ && tokenizer_->vocab_size() > config_.d_vocab)
    fail<FormatError>("{}: tokenizer has {} tokens but the model's vocabulary is {}", source_.dir,
                      tokenizer_->vocab_size(), config_.d_vocab);
  if (config_.positions == PositionKind::Rotary)
    std::tie(rope_cos_, rope_sin_) = detail::rotary_tables(config_, weights_.W_E.options());
}

void Model::to(const at::Device& device) {
  weights_.to(device);
  if (rope_cos_.defined()) {
    rope_cos_ = rope_cos_.to(device);
    rope_sin_ = rope_sin_.to(device);
  }
}

at::Tensor Model::apply_norm(const at::Tensor& x, int layer, int which) const {
  if (layer < -1 || layer >= config_.n_layers || (layer >= 0 && which != 1 && which != 2))
    fail<InputError>("no norm {} in layer {} (layers 0..{}, norms 1 and 2, or layer -1 for the final norm)", which, layer,
                     config_.n_layers - 1);
  const auto& w = layer < 0 ? weights_.ln_final
                            : which == 1 ? weights_.layers[static_cast<std::size_t>(layer)].ln1
                                         : weights_.layers[static_cast<std::size_t>(layer)].ln2;
  return detail::plain_norm(x, w, config_);
}

Model::Model(const Model& other)
    : config_(other.config_),
      weights_(other.weights_),
      tokenizer_(other.tokenizer_),
      source_(other.source_),
      hooks_(std::make_shared<HookRegistry>(config_)),
      rope_cos_(other.rope_cos_),
      rope_sin_(other.rope_sin_) {}

Model& Model::operator=(const Model& other) {
  if (this != &other) *this = Model(other);
  return *this;
}

at::Tensor Model::unembed(const at::Tensor& x) const {
  return detail::linear(detail::plain_norm(x, weights_.ln_final, config_), weights_.W_U, weights_.b_U);
}

const Tokenizer& Model::tokenizer() const {
  if (!tokenizer_)
    fail<InputError>("model '{}' has no tokenizer (expected vocab.json + merges.txt or tokenizer.bin in its directory)",
                     source_.dir);
  return *tokenizer_;
}

std::pair<at::Tensor, ActivationCache> Model::run_with_cache(const at::Tensor& tokens, const HookFilter& filter,
                                                             const ForwardOptions& options) const {
  const int first = forward_order(hook::resid_pre(options.start_layer), config_);
  const int last = options.stop_after_layer < 0 ? forward_order(hook::ln_final_normalized(), config_)
                                                : forward_order(hook::resid_post(options.stop_after_layer), config_);
  ActivationCache cache;
  std::vector<HookHandle> handles;
  for (HookId id : every_hook_point(config_)) {
    int order = forward_order(id, config_);
    bool before_start = options.start_layer > 0 && order < first;
    if (before_start || order > last || !filter(id)) continue;
    handles.push_back(hooks_->add(id, [&cache](at::Tensor& activation, HookId at) { cache.put(at, activation); }));
  }
  at::Tensor out = forward(tokens, options);
  return {std::move(out), std::move(cache)};
}

}  // namespace patchbay

namespace patchbay {

std::vector<HookId> key_value_hooks(const ModelConfig& config, int first_layer, int last_layer) {
  std::vector<HookId> out;
  const Site key_site = config.positions == PositionKind::Rotary ? Site::RotK : Site::K;
  for (int l = first_layer; l <= last_layer; ++l) {
    out.push_back({key_site, l});
    out.push_back({Site::V, l});
  }
  return out;
}

KeyValuePrefix key_value_prefix(const ActivationCache& cache, const ModelConfig& config, int first_layer, int last_layer,
                                std::int64_t n_past) {
  KeyValuePrefix prefix;
  prefix.keys.resize(static_cast<std::size_t>(config.n_layers));
  prefix.values.resize(static_cast<std::size_t>(config.n_layers));
  const Site key_site = config.positions == PositionKind::Rotary ? Site::RotK : Site::K;
  for (int l = first_layer; l <= last_layer; ++l) {
    prefix.keys[static_cast<std::size_t>(l)] = cache.at({key_site, l}).narrow(1, 0, n_past);
    prefix.values[static_cast<std::size_t>(l)] = cache.at({Site::V, l}).narrow(1, 0, n_past);
  }
  return prefix;
}

}  // namespace patchbay
