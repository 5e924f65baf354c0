#include "patchbay/analysis/direction_ablation.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

extern const char* const kGeneralText;

const std::string& general_text() {
  static const std::string text = kGeneralText;
  return text;
}

at::Tensor text_chunks(const Tokenizer& tok, const std::string& text, std::int64_t chunk, bool bos) {
  auto ids = tok.encode(text, false);
  const std::int64_t body = chunk - (bos ? 1 : 0);
  if (body < 2) fail<InputError>("chunk length {} is too short", chunk);
  const auto n = static_cast<std::int64_t>(ids.size()) / body;
  if (n == 0) fail<InputError>("text of {} tokens is shorter than one chunk of {}", ids.size(), body);
  std::vector<std::int64_t> flat;
  for (std::int64_t i = 0; i < n; ++i) {
    if (bos) flat.push_back(*tok.bos_id());
    flat.insert(flat.end(), ids.begin() + i * body, ids.begin() + (i + 1) * body);
  }
  return at::tensor(flat, at::kLong).view({n, chunk});
}

namespace {

struct Run {
  at::Tensor log_probs;                 // [batch, pos - 1, vocab]: predictions for the next token
  std::vector<at::Tensor> patterns;     // per later layer
};

Run run(const Model& model, const at::Tensor& tokens, int layer, const at::Tensor& basis, const at::Tensor& mean,
        DirectionAblationKind kind) {
  std::vector<HookHandle> handles;
  Run r;
  if (basis.defined())
    handles.push_back(model.add_hook(hook::resid_post(layer), [&](at::Tensor& x, HookId) {
      auto coords = at::matmul(x, basis);  // [batch, pos, rank]
      auto target = kind == DirectionAblationKind::Mean ? mean.expand_as(coords) : at::zeros_like(coords);
      x = x + at::matmul(target - coords, basis.t());
    }));
  for (int l = layer + 1; l < model.config().n_layers; ++l)
    handles.push_back(model.add_hook(hook::pattern(l), [&](at::Tensor& p, HookId) { r.patterns.push_back(p); }));
  auto logits = model.forward(tokens);
  r.log_probs = at::log_softmax(logits.narrow(1, 0, tokens.size(1) - 1), -1);
  return r;
}

double loss_of(const Run& r, const at::Tensor& tokens) {
  auto next = tokens.narrow(1, 1, tokens.size(1) - 1).to(r.log_probs.device());
  return -r.log_probs.gather(-1, next.unsqueeze(-1)).mean().item<double>();
}

double kl_of(const Run& p, const Run& q) {
  return (p.log_probs.exp() * (p.log_probs - q.log_probs)).sum(-1).mean().item<double>();
}

std::vector<double> attention_change(const Run& a, const Run& b) {
  std::vector<double> out;
  for (std::size_t i = 0; i < a.patterns.size(); ++i)
    out.push_back(0.5 * (a.patterns[i] - b.patterns[i]).abs().sum(-1).mean().item<double>());  // total variation
  return out;
}

}  // namespace

DirectionAblationResult ablate_probe_directions(const Model& model, const LogisticProbe& probe, int layer,
                                                const at::Tensor& tokens, DirectionAblationKind kind, std::uint64_t seed) {
  const auto& c = model.config();
  if (layer < 0 || layer >= c.n_layers) fail<InputError>("layer {} out of range 0..{}", layer, c.n_layers - 1);
  if (probe.n_features() != c.d_model)
    fail<InputError>("probe reads {} features but the model has d_model = {}", probe.n_features(), c.d_model);
  at::InferenceMode no_grad;
  // The probe separates classes along the differences of its class vectors: an orthonormal
  // basis of their span (in raw residual coordinates) is what it reads.
  auto W = probe.W.to(at::kDouble);
  if (probe.std.defined()) W = W / probe.std.to(at::kDouble).unsqueeze(1);
  auto centred = W - W.mean(1, true);                        // [d_model, K]
  auto [U, S, Vh] = at::linalg_svd(centred, /*full_matrices=*/false);
  const auto rank = std::min<std::int64_t>(probe.n_classes() - 1, c.d_model);
  auto basis = U.narrow(1, 0, rank).to(at::kFloat).to(model.device());  // [d_model, rank]
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto random = std::get<0>(at::linalg_qr(at::randn({c.d_model, rank}, gen, at::kDouble))).to(at::kFloat).to(model.device());

  auto resid_mean = [&](const at::Tensor& b) {
    auto cache = model.run_with_cache(tokens, filters::only({hook::resid_post(layer)}), ForwardOptions().stop_after(layer)).second;
    return at::matmul(cache.at(hook::resid_post(layer)), b).mean(at::IntArrayRef{0, 1});  // [rank]
  };
  auto base = run(model, tokens, layer, {}, {}, kind);
  auto ablated = run(model, tokens, layer, basis, resid_mean(basis), kind);
  auto control = run(model, tokens, layer, random, resid_mean(random), kind);

  DirectionAblationResult r;
  r.layer = layer;
  r.rank = rank;
  r.loss = loss_of(base, tokens);
  r.loss_ablated = loss_of(ablated, tokens);
  r.loss_random = loss_of(control, tokens);
  r.kl_ablated = kl_of(base, ablated);
  r.kl_random = kl_of(base, control);
  r.attention_change = attention_change(base, ablated);
  r.attention_change_random = attention_change(base, control);
  r.tokens = tokens.size(0) * (tokens.size(1) - 1);
  return r;
}

}  // namespace patchbay
