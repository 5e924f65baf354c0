#include "patchbay/patching/circuit_metric.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "ablation_sources.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {
namespace {

// The senders' outputs in the layout's order, from a cache (or ablation sources) holding
// sender_output_hooks: [pair, pos, sender, d_model].
at::Tensor stacked_sender_outputs(const EdgeLayout& layout, const detail::AblationSources& sources, const at::Tensor& like_resid,
                                  const at::Tensor& like_result) {
  std::vector<at::Tensor> out;
  for (const auto& s : layout.senders) {
    if (s.layer < 0) out.push_back(sources.of(hook::resid_pre(0), like_resid));
    else if (s.mlp) out.push_back(sources.of(hook::mlp_out(s.layer), like_resid));
    else out.push_back(sources.of({Site::Result, s.layer}, like_result).select(2, s.head));
  }
  return at::stack(out, 2);
}

// One forward pass over a batch of pairs with the ablated edges' contributions swapped. As the
// pass goes, each sender's output in this run is recorded; a receiver's input then gains
// sum over its ablated edges of (ablated output - output in this run).
class AblatedPass {
 public:
  AblatedPass(const Model& model, const EdgeLayout& layout, const at::Tensor& ablated_edges, const at::Tensor& ablated_outputs)
      : model_(model), layout_(layout), ablated_edges_(ablated_edges), ablated_outputs_(ablated_outputs) {}

  // tokens [pair, pos] -> the read-out layer's hook_resid_post with the read-out's edges swapped.
  at::Tensor run(const at::Tensor& tokens, int L) {
    const auto H = model_.config().n_heads;
    std::vector<HookHandle> handles;
    handles.push_back(model_.add_hook(hook::resid_pre(0), [this](at::Tensor& x, HookId) { record(x); }));
    for (int l = 0; l <= L; ++l) {
      const auto first_receiver = static_cast<std::int64_t>(l) * (3 * H + 1);
      const auto senders_before = 1 + static_cast<std::int64_t>(l) * (H + 1);  // input and every earlier layer
      for (auto [site, side] : {std::pair{Site::QInput, 0}, {Site::KInput, 1}, {Site::VInput, 2}})
        handles.push_back(model_.add_hook({site, l}, [=, this](at::Tensor& input, HookId) {  // [pair, pos, head, d_model]
          input = input + swapped(senders_before, first_receiver + side * H, H);
        }));
      handles.push_back(model_.add_hook({Site::Result, l}, [this, H](at::Tensor& result, HookId) {
        for (std::int64_t h = 0; h < H; ++h) record(result.select(2, h));
      }));
      handles.push_back(model_.add_hook(hook::mlp_in(l), [=, this](at::Tensor& input, HookId) {  // [pair, pos, d_model]
        input = input + swapped(senders_before + H, first_receiver + 3 * H, 1).squeeze(2);
      }));
      handles.push_back(model_.add_hook(hook::mlp_out(l), [this](at::Tensor& x, HookId) { record(x); }));
    }
    ForwardOptions fo;
    fo.stop_after(L).trusted_tokens().ungroup_kv();  // keys and values per query head, as the layout's edges
    const auto resid = model_.forward(tokens, fo);
    const auto R = static_cast<std::int64_t>(layout_.receivers.size());
    return resid + swapped(static_cast<std::int64_t>(layout_.senders.size()), R - 1, 1).squeeze(2);
  }

 private:
  void record(const at::Tensor& output) { current_.push_back(output); }

  // sum over the first n_senders senders s of ablated_edges[s, r] * (ablated_s - current_s) for
  // receivers r in [first, first + count): [pair, pos, count, d_model].
  at::Tensor swapped(std::int64_t n_senders, std::int64_t first, std::int64_t count) const {
    const auto current = at::stack(std::vector<at::Tensor>(current_.begin(), current_.begin() + n_senders), 2);
    const auto delta = ablated_outputs_.narrow(2, 0, n_senders) - current;       // [pair, pos, sender, d_model]
    const auto mask = ablated_edges_.narrow(0, 0, n_senders).narrow(1, first, count).to(delta.scalar_type());  // [sender, count]
    return at::einsum("bpsd,sr->bprd", {delta, mask.to(delta.device())});
  }

  const Model& model_;
  const EdgeLayout& layout_;
  at::Tensor ablated_edges_;    // [sender, receiver] bool
  at::Tensor ablated_outputs_;  // [pair, pos, sender, d_model]
  std::vector<at::Tensor> current_;
};

}  // namespace

at::Tensor circuit_metric(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const at::Tensor& kept,
                          const AblationOptions& ablation, const CircuitMetricOptions& options) {
  if (pairs.empty()) fail<InputError>("a circuit's metric needs at least one pair");
  if (options.max_batch < 1) fail<InputError>("max_batch must be positive, got {}", options.max_batch);
  at::InferenceMode no_grad;
  const int L = metric.layer();
  const auto layout = edge_layout(model.config(), L);
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  if (kept.dim() != 2 || kept.size(0) != S || kept.size(1) != R)
    fail<InputError>("the kept-edge mask must be [sender, receiver] = [{}, {}] for read-out layer {}, got {}", S, R, L, kept.sizes());
  const auto ablated_edges = layout.valid() & ~kept.to(at::kCPU, at::kBool);  // [sender, receiver]
  const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  const auto T = pairs.front().target;
  if (!ablated_edges.any().item<bool>()) return metric(model.forward(clean, ForwardOptions().stop_after(L)).select(1, T));

  const auto sources = detail::ablation_sources(model, clean, corrupted, L, ablation, sender_output_hooks(L));
  const auto N = clean.size(0);
  std::vector<at::Tensor> values;
  for (std::int64_t i0 = 0; i0 < N; i0 += options.max_batch) {
    const auto n = std::min(options.max_batch, N - i0);
    detail::AblationSources batch;
    for (const auto& [id, value] : sources.values) batch.values[id] = value.narrow(0, i0, n);
    const auto tokens = clean.narrow(0, i0, n);
    const auto on_model = at::TensorOptions().device(model.device());
    const auto like_resid = at::zeros({n, tokens.size(1), model.config().d_model}, on_model);                         // zero ablation's
    const auto like_result = at::zeros({n, tokens.size(1), model.config().n_heads, model.config().d_model}, on_model);  // values
    AblatedPass pass(model, layout, ablated_edges, stacked_sender_outputs(layout, batch, like_resid, like_result));
    const auto pair_of_row = at::arange(i0, i0 + n, at::kLong);
    values.push_back(metric(pass.run(tokens.to(model.device()), L).select(1, T), pair_of_row.to(model.device())));
  }
  return at::cat(values, 0);
}

}  // namespace patchbay
