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
  const auto setup = setup_patch(model, pairs, sweep, direction);
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

  PatchResult r = detail::start_result(sweep, direction, recv_metric, src_metric);
  // Every patch starts out as "no change": exactly the receiving run's metric.
  auto shape = result_shape(sweep, N, c, setup.length);
  std::vector<std::int64_t> expand_to = shape;
  std::vector<std::int64_t> view_as(shape.size(), 1);
  view_as[0] = N;
  r.metric = recv_metric.view(view_as).expand(expand_to).clone();

  // Up to where each pair's two prompts agree, every activation is the same in both runs, so a
  // patch there is exactly no change: such positions are not run (when no pair differs there)
  // or reset to the receiving metric (for the pairs that agree there).
  const auto agree = recv_tokens.ne(src_tokens).cumsum(1).eq(0).sum(1);  // [pair]: length of the shared prefix
  const auto all_agree_before = agree.min().item<std::int64_t>();
  const std::int64_t V = sweep.per_head ? site_heads(sweep.site, c) : 1;
  const int pos_axis = position_axis(sweep.site);
  const std::int64_t bucket = options.position_bucket > 0
                                  ? options.position_bucket
                                  : std::clamp<std::int64_t>((48 + N * V - 1) / (N * V), 1, 8);  // measured: ~48 rows per bucket is best
  for (int l = 0; l <= L; ++l) {
    const auto source = src.at({sweep.site, l});     // [pair, ...]
    const auto resid = recv.at(hook::resid_pre(l));  // [pair, T + 1, d_model]
    std::vector<std::int64_t> positions;
    for (std::int64_t p = 0; p <= (sweep.per_position ? T : 0); ++p)
      if (!(sweep.per_position && l == L && position_local(sweep.site) && p != T) && !(sweep.per_position && p < all_agree_before))
        positions.push_back(p);  // else exactly zero
    // A position-local patch at (l, p) changes only position p within layer l: compute layer l
    // for the bucket's positions only, then run layers l + 1 .. L over the suffix.
    const bool split_at_layer = sweep.per_position && position_local(sweep.site) && l < L;

    for (std::size_t b0 = 0; b0 < positions.size(); b0 += static_cast<std::size_t>(bucket)) {
      const std::vector<std::int64_t> ps(positions.begin() + static_cast<std::ptrdiff_t>(b0),
                                         positions.begin() + static_cast<std::ptrdiff_t>(std::min(positions.size(), b0 + bucket)));
      const auto p0 = ps.front(), S = T + 1 - p0;
      const auto patched_len = split_at_layer ? ps.back() - p0 + 1 : S;
      const auto R = static_cast<std::int64_t>(ps.size()) * V;  // rows per pair: (position, variant), variant fastest
      const auto prefix = p0 > 0 ? key_value_prefix(recv, c, l, L, p0) : KeyValuePrefix{};
      const auto src_suffix = source.narrow(pos_axis, p0, patched_len);  // [pair, ...]
      std::vector<at::Tensor> masks, position_masks;
      for (auto p : ps) {
        masks.push_back(variant_mask(sweep, src_suffix.sizes().slice(1), V, p - p0));
        position_masks.push_back(at::arange(S).eq(p - p0).view({1, S, 1}).expand({V, S, 1}));
      }
      const auto mask = at::cat(masks, 0).to(resid.device());                   // [R, ...]
      const auto at_position = at::cat(position_masks, 0).to(resid.device());   // [R, S, 1]
      const std::int64_t chunk = std::max<std::int64_t>(1, options.max_batch / R);
      std::vector<at::Tensor> values;
      for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
        const auto n = std::min(chunk, N - i0);
        auto rows = [&](const at::Tensor& t) { return t.narrow(0, i0, n).repeat_interleave(R, 0); };  // [n R, ...]
        const auto src_rows = rows(src_suffix);
        std::vector<std::int64_t> reps(static_cast<std::size_t>(mask.dim()), 1);
        reps[0] = n;
        const auto take = mask.repeat(reps);  // [n R, ...]
        KeyValuePrefix chunk_prefix;
        chunk_prefix.keys.resize(static_cast<std::size_t>(c.n_layers));
        chunk_prefix.values.resize(static_cast<std::size_t>(c.n_layers));
        if (p0 > 0)
          for (int j = l; j <= L; ++j) {
            chunk_prefix.keys[j] = prefix.keys[j].narrow(0, i0, n);
            chunk_prefix.values[j] = prefix.values[j].narrow(0, i0, n);
          }
        const auto* past = p0 > 0 ? &chunk_prefix : nullptr;
        const auto tokens = rows(recv_tokens.narrow(1, p0, S));

        // The patched run over layer l (the bucket's positions when split, else the whole suffix).
        at::Tensor out;
        {
          auto handle = model.add_hook({sweep.site, l}, [&](at::Tensor& act, HookId) { act = at::where(take, src_rows, act); });
          ForwardOptions fo;
          fo.stop_after(split_at_layer ? l : L).suffix(p0, past).only_last_position(!split_at_layer && l < L).trusted_tokens();
          if (l > 0) fo.start_at(l, rows(resid.narrow(1, p0, patched_len)));
          out = model.forward(tokens.narrow(1, 0, patched_len), fo);
        }
        if (split_at_layer) {
          // Every other position enters layer l + 1 as in the receiving run; the patched one as patched.
          auto base = rows(recv.at(hook::resid_pre(l + 1)).narrow(1, p0, S));
          auto patched = at::constant_pad_nd(out, {0, 0, 0, S - patched_len});
          ForwardOptions fo;
          fo.start_at(l + 1, at::where(at_position.repeat({n, 1, 1}), patched, base))
              .stop_after(L).suffix(p0, past).only_last_position(true).trusted_tokens();
          out = model.forward(tokens, fo);
        }
        values.push_back(metric(out.select(1, out.size(1) - 1)).view({n, static_cast<std::int64_t>(ps.size()), V}));
      }
      auto bucket_values = at::cat(values, 0);  // [pair, positions in bucket, V]
      for (std::size_t k = 0; k < ps.size(); ++k) {
        auto value = bucket_values.select(1, static_cast<std::int64_t>(k));  // [pair, V]
        if (sweep.per_position) value = at::where(agree.gt(ps[k]).view({N, 1}), recv_metric.view({N, 1}), value);
        store(r.metric, sweep, l, ps[k], value);
      }
    }
  }
  return r;
}

PatchResult patch_sweep_naive(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                              const PatchSweep& sweep, PatchDirection direction) {
  using namespace detail;
  const auto& c = model.config();
  const auto setup = setup_patch(model, pairs, sweep, direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<std::int64_t>(pairs.size());
  at::InferenceMode no_grad;

  std::vector<HookId> site_hooks{hook::resid_post(L)};
  for (int l = 0; l < c.n_layers; ++l) site_hooks.push_back({sweep.site, l});
  auto recv = model.run_with_cache(setup.receiving_tokens, filters::only({hook::resid_post(L)})).second;
  auto src = model.run_with_cache(setup.source_tokens, filters::only(site_hooks)).second;
  auto read_metric = [&](const at::Tensor& resid_post) { return metric(resid_post.select(1, T)); };
  PatchResult r = start_result(sweep, direction, read_metric(recv.at(hook::resid_post(L))), read_metric(src.at(hook::resid_post(L))));
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
