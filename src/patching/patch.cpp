// Fast exact activation patching and the naive reference loop.
#include "patchbay/patching/patch.hpp"

#include <ATen/ATen.h>

#include "patch_common.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {
namespace {

// Writes `values` ([pair, variants]) into the result at layer l (and position p when per position).
void store(at::Tensor& result, const PatchSweep& sweep, int layer, std::int64_t position, const at::Tensor& values) {
  auto slot = result.select(1, layer);  // [pair, (head), (position)]
  if (sweep.per_position) slot = slot.select(-1, position);
  if (sweep.per_head) slot.copy_(values);
  else slot.copy_(values.select(1, 0));
}

}  // namespace

PatchResult patch_sweep(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                        const PatchSweep& sweep, PatchDirection direction, const PatchOptions& options) {
  using namespace detail;
  const auto& c = model.config();
  const auto setup = setup_patch(model, pairs, metric, sweep, direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<std::int64_t>(pairs.size());
  at::InferenceMode no_grad;

  // Positions after the target cannot reach it: drop them from every run.
  const auto recv_tokens = setup.receiving_tokens.narrow(1, 0, T + 1);
  const auto src_tokens = setup.source_tokens.narrow(1, 0, T + 1);
  std::vector<HookId> site_hooks, hooks = key_value_hooks(c, 0, L);
  for (int l = 0; l <= L; ++l) {
    site_hooks.push_back({sweep.site, l});
    hooks.push_back({sweep.site, l});
    hooks.push_back(hook::resid_pre(l));
  }
  auto [recv_out, recv] = model.run_with_cache(recv_tokens, filters::only(hooks), ForwardOptions().stop_after(L));
  auto [src_out, src] = model.run_with_cache(src_tokens, filters::only(site_hooks), ForwardOptions().stop_after(L));
  const auto recv_metric = metric(recv_out.select(1, T));  // [pair]
  const auto src_metric = metric(src_out.select(1, T));

  PatchResult r;
  r.sweep = sweep;
  r.direction = direction;
  r.axes = result_axes(sweep);
  r.clean = direction == PatchDirection::CleanIntoCorrupted ? src_metric : recv_metric;
  r.corrupted = direction == PatchDirection::CleanIntoCorrupted ? recv_metric : src_metric;
  // Every patch starts out as "no change": exactly the receiving run's metric.
  auto shape = result_shape(sweep, N, c, setup.length);
  std::vector<std::int64_t> expand_to = shape;
  std::vector<std::int64_t> view_as(shape.size(), 1);
  view_as[0] = N;
  r.metric = recv_metric.view(view_as).expand(expand_to).clone();

  const std::int64_t V = sweep.per_head ? site_heads(sweep.site, c) : 1;
  const int pos_axis = position_axis(sweep.site);
  for (int l = 0; l <= L; ++l) {
    const auto source = src.at({sweep.site, l});     // [pair, ...]
    const auto resid = recv.at(hook::resid_pre(l));  // [pair, T + 1, d_model]
    const std::vector<std::int64_t> starts = sweep.per_position ? [&] {
      std::vector<std::int64_t> v;
      for (std::int64_t p = 0; p <= T; ++p) v.push_back(p);
      return v;
    }() : std::vector<std::int64_t>{0};
    for (std::int64_t p : starts) {
      if (sweep.per_position && l == L && position_local(sweep.site) && p != T) continue;  // exactly zero
      const auto S = T + 1 - p;
      const auto prefix = p > 0 ? key_value_prefix(recv, c, l, L, p) : KeyValuePrefix{};
      // Source slice over the suffix positions, and which part each variant takes from it.
      const auto src_suffix = source.narrow(pos_axis, p, S);  // [pair, ...suffix...]
      auto one_shape = src_suffix.sizes().slice(1);
      const auto mask = variant_mask(sweep, one_shape, V, 0).to(resid.device());  // [V, ...]
      // Pairs in chunks so that a batch holds at most max_batch rows.
      const std::int64_t chunk = std::max<std::int64_t>(1, options.max_batch / V);
      std::vector<at::Tensor> values;
      for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
        const auto n = std::min(chunk, N - i0);
        const auto src_rows = src_suffix.narrow(0, i0, n).repeat_interleave(V, 0);  // [n V, ...]
        std::vector<std::int64_t> reps(static_cast<std::size_t>(mask.dim()), 1);
        reps[0] = n;
        const auto take = mask.repeat(reps);  // [n V, ...], variant index fastest
        auto handle = model.add_hook({sweep.site, l}, [&](at::Tensor& act, HookId) { act = at::where(take, src_rows, act); });
        KeyValuePrefix chunk_prefix;
        if (p > 0)
          for (int j = l; j <= L; ++j) {
            chunk_prefix.keys.resize(static_cast<std::size_t>(c.n_layers));
            chunk_prefix.values.resize(static_cast<std::size_t>(c.n_layers));
            chunk_prefix.keys[j] = prefix.keys[j].narrow(0, i0, n);
            chunk_prefix.values[j] = prefix.values[j].narrow(0, i0, n);
          }
        ForwardOptions fo;
        fo.stop_after(L).suffix(p, p > 0 ? &chunk_prefix : nullptr).only_last_position(l < L);
        if (l > 0) fo.start_at(l, resid.narrow(0, i0, n).narrow(1, p, S).repeat_interleave(V, 0));
        auto out = model.forward(recv_tokens.narrow(0, i0, n).narrow(1, p, S).repeat_interleave(V, 0), fo);
        values.push_back(metric(out.select(1, out.size(1) - 1)).view({n, V}));
      }
      store(r.metric, sweep, l, p, at::cat(values, 0));
    }
  }
  return r;
}

PatchResult patch_sweep_naive(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                              const PatchSweep& sweep, PatchDirection direction) {
  using namespace detail;
  const auto& c = model.config();
  const auto setup = setup_patch(model, pairs, metric, sweep, direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<std::int64_t>(pairs.size());
  at::InferenceMode no_grad;

  std::vector<HookId> site_hooks;
  for (int l = 0; l < c.n_layers; ++l) site_hooks.push_back({sweep.site, l});
  auto [recv_out, recv] = model.run_with_cache(setup.receiving_tokens, filters::only({hook::resid_post(L)}));
  auto [src_out, src] = model.run_with_cache(setup.source_tokens, filters::only(site_hooks));
  (void)src_out;
  auto read_metric = [&](const at::Tensor& resid_post) { return metric(resid_post.select(1, T)); };

  PatchResult r;
  r.sweep = sweep;
  r.direction = direction;
  r.axes = result_axes(sweep);
  const auto recv_metric = read_metric(recv.at(hook::resid_post(L)));
  at::Tensor src_metric;
  {
    auto [out, cache] = model.run_with_cache(setup.source_tokens, filters::only({hook::resid_post(L)}));
    src_metric = read_metric(cache.at(hook::resid_post(L)));
  }
  r.clean = direction == PatchDirection::CleanIntoCorrupted ? src_metric : recv_metric;
  r.corrupted = direction == PatchDirection::CleanIntoCorrupted ? recv_metric : src_metric;
  r.metric = at::zeros(result_shape(sweep, N, c, setup.length), at::kFloat);

  const std::int64_t heads = sweep.per_head ? site_heads(sweep.site, c) : 1;
  const std::int64_t positions = sweep.per_position ? setup.length : 1;
  for (int l = 0; l < c.n_layers; ++l)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t p = 0; p < positions; ++p) {
        const auto source = src.at({sweep.site, l});
        auto mask = variant_mask(sweep, source.sizes().slice(1), heads, p)[h];  // [...]
        auto patch = model.add_hook({sweep.site, l}, [&](at::Tensor& act, HookId) { act = at::where(mask, source, act); });
        at::Tensor captured;
        auto capture = model.add_hook(hook::resid_post(L), [&](at::Tensor& act, HookId) { captured = act; });
        model.forward(setup.receiving_tokens, ForwardOptions().stop_after(std::max(L, l)));
        auto value = read_metric(captured).to(at::kCPU);  // host sync per patch, as the usual loop does
        auto slot = r.metric.select(1, l);
        if (sweep.per_head) slot = slot.select(1, h);
        if (sweep.per_position) slot = slot.select(-1, p);
        slot.copy_(value);
      }
  return r;
}

}  // namespace patchbay
