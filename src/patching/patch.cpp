// Fast exact activation patching and the naive reference loop.
#include "patchbay/patching/patch.hpp"

#include <ATen/ATen.h>

#include "pair_chunks.hpp"
#include "patch_common.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {
namespace {

// The two unpatched runs of a sweep, cached up to the read-out over positions 0..target
// (positions after the target cannot reach it).
struct PatchRuns {
  at::Tensor receiving_tokens, source_tokens;  // [pair, target + 1]
  ActivationCache receiving, source;           // receiving: the site, keys/values, resid_pre; source: the site
  at::Tensor receiving_metric, source_metric;  // [pair]
  at::Tensor shared_prefix;                    // [pair]: positions where the pair's two prompts agree token for token
};

std::int64_t n_pairs_of(const PatchRuns& runs) { return runs.receiving_tokens.size(0); }

// One batched group of patches: `positions` of `layer` (ascending), each in `variants` forms
// (one per head when per head). A row of the batch is one (pair, position, variant).
struct PatchBucket {
  int layer = 0;
  std::vector<std::int64_t> positions;
  std::int64_t variants = 1;
  // A position-local patch at (layer, p) changes only position p within the layer: compute the
  // layer for the bucket's positions only, then run the later layers over the whole suffix.
  bool split_at_layer = false;
  std::int64_t first() const { return positions.front(); }
  std::int64_t rows_per_pair() const { return static_cast<std::int64_t>(positions.size()) * variants; }
};

PatchRuns run_unpatched(const Model& model, const detail::PatchSetup& setup, const PatchSweep& sweep, const Metric& metric) {
  const int readout = metric.layer();
  const auto target = setup.target;
  PatchRuns runs;
  runs.receiving_tokens = setup.receiving_tokens.narrow(1, 0, target + 1);
  runs.source_tokens = setup.source_tokens.narrow(1, 0, target + 1);
  std::vector<HookId> site_hooks, receiving_hooks = key_value_hooks(model.config(), 0, readout);
  for (int l = 0; l <= readout; ++l) {
    site_hooks.push_back({sweep.site, l});
    receiving_hooks.push_back({sweep.site, l});
    receiving_hooks.push_back(hook::resid_pre(l));
  }
  const auto stop = ForwardOptions().stop_after(readout);
  at::Tensor receiving_out, source_out;  // [pair, target + 1, d_model]
  std::tie(receiving_out, runs.receiving) = model.run_with_cache(runs.receiving_tokens, filters::only(receiving_hooks), stop);
  std::tie(source_out, runs.source) = model.run_with_cache(runs.source_tokens, filters::only(site_hooks), stop);
  runs.receiving_metric = metric(receiving_out.select(1, target));
  runs.source_metric = metric(source_out.select(1, target));
  runs.shared_prefix = runs.receiving_tokens.ne(runs.source_tokens).cumsum(1).eq(0).sum(1);
  return runs;
}

// The positions of `layer` whose patches can change the metric; every other one is exactly
// the receiving run's metric: position-local sites at the read-out layer away from the
// target, and positions before every pair's first difference.
std::vector<std::int64_t> positions_to_run(const PatchSweep& sweep, int layer, int readout, std::int64_t target,
                                           std::int64_t shared_by_all) {
  if (!sweep.per_position) return {0};
  std::vector<std::int64_t> out;
  for (std::int64_t p = shared_by_all; p <= target; ++p)
    if (!(layer == readout && detail::position_local(sweep.site) && p != target)) out.push_back(p);
  return out;
}

// Patch positions run together: GEMMs on few rows are dominated by packing the weights, and
// about 48 rows a batch measured best (rows for a later position recompute the few earlier
// ones, which the patch cannot change).
std::int64_t positions_per_bucket(const PatchOptions& options, std::int64_t n_pairs, std::int64_t variants) {
  if (options.position_bucket > 0) return options.position_bucket;
  return std::clamp<std::int64_t>((48 + n_pairs * variants - 1) / (n_pairs * variants), 1, 8);
}

// Pairs [first, first + count) of every cached key/value prefix of layers `from`..readout.
KeyValuePrefix prefix_rows(const KeyValuePrefix& prefix, int from, int readout, std::int64_t first, std::int64_t count) {
  KeyValuePrefix out;
  out.keys.resize(prefix.keys.size());
  out.values.resize(prefix.values.size());
  for (int j = from; j <= readout; ++j) {
    out.keys[j] = prefix.keys[j].narrow(0, first, count);
    out.values[j] = prefix.values[j].narrow(0, first, count);
  }
  return out;
}

// The metric of every row of a bucket for pairs [first_pair, first_pair + n): [n, positions, variants].
at::Tensor run_bucket_rows(const Model& model, const PatchRuns& runs, const PatchSweep& sweep, const PatchBucket& b, int readout,
                           std::int64_t first_pair, std::int64_t n, const KeyValuePrefix* full_prefix, const Metric& metric) {
  const int l = b.layer;
  const auto p0 = b.first(), suffix = runs.receiving_tokens.size(1) - p0;
  const auto patched_len = b.split_at_layer ? b.positions.back() - p0 + 1 : suffix;
  const auto R = b.rows_per_pair();
  auto rows = [&](const at::Tensor& t) { return t.narrow(0, first_pair, n).repeat_interleave(R, 0); };  // [n R, ...]
  const auto source = runs.source.at({sweep.site, l}).narrow(detail::position_axis(sweep.site), p0, patched_len);
  std::vector<at::Tensor> masks, at_position;
  for (auto p : b.positions) {
    masks.push_back(detail::variant_mask(sweep, source.sizes().slice(1), b.variants, p - p0));
    at_position.push_back(at::arange(suffix).eq(p - p0).view({1, suffix, 1}).expand({b.variants, suffix, 1}));
  }
  const auto device = source.device();
  std::vector<std::int64_t> reps(static_cast<std::size_t>(source.dim()), 1);
  reps[0] = n;
  const auto take = at::cat(masks, 0).to(device).repeat(reps);  // [n R, ...]: what each row patches
  const auto source_rows = rows(source);
  const auto prefix = full_prefix ? prefix_rows(*full_prefix, l, readout, first_pair, n) : KeyValuePrefix{};
  const auto* past = full_prefix ? &prefix : nullptr;
  const auto tokens = rows(runs.receiving_tokens.narrow(1, p0, suffix));

  // The patched run over layer l (the bucket's positions when split, else the whole suffix).
  at::Tensor out;
  {
    auto handle = model.add_hook({sweep.site, l}, [&](at::Tensor& act, HookId) { act = at::where(take, source_rows, act); });
    ForwardOptions fo;
    fo.stop_after(b.split_at_layer ? l : readout).suffix(p0, past).only_last_position(!b.split_at_layer && l < readout).trusted_tokens();
    if (l > 0) fo.start_at(l, rows(runs.receiving.at(hook::resid_pre(l)).narrow(1, p0, patched_len)));
    out = model.forward(tokens.narrow(1, 0, patched_len), fo);
  }
  if (b.split_at_layer) {
    // Every other position enters layer l + 1 as in the receiving run; the patched one as patched.
    auto unpatched = rows(runs.receiving.at(hook::resid_pre(l + 1)).narrow(1, p0, suffix));
    auto patched = at::constant_pad_nd(out, {0, 0, 0, suffix - patched_len});
    const auto where_patched = at::cat(at_position, 0).to(device).repeat({n, 1, 1});  // [n R, suffix, 1]
    ForwardOptions fo;
    fo.start_at(l + 1, at::where(where_patched, patched, unpatched)).stop_after(readout).suffix(p0, past).only_last_position(true).trusted_tokens();
    out = model.forward(tokens, fo);
  }
  const auto pair_of_row = rows(at::arange(n_pairs_of(runs), at::TensorOptions().dtype(at::kLong).device(out.device())));
  return metric(out.select(1, out.size(1) - 1), pair_of_row).view({n, static_cast<std::int64_t>(b.positions.size()), b.variants});
}

// The metric of every row of a bucket, chunked over pairs to bound the batch: [pair, positions, variants].
at::Tensor run_bucket(const Model& model, const PatchRuns& runs, const PatchSweep& sweep, const PatchBucket& b, int readout,
                      const Metric& metric, const PatchOptions& options) {
  const auto n_pairs = runs.receiving_tokens.size(0);
  // Keys and values of the positions before the bucket come from the receiving run's cache.
  const auto prefix = b.first() > 0 ? key_value_prefix(runs.receiving, model.config(), b.layer, readout, b.first()) : KeyValuePrefix{};
  const std::int64_t chunk = std::max<std::int64_t>(1, options.max_batch / b.rows_per_pair());
  std::vector<at::Tensor> values;
  for (std::int64_t i0 = 0; i0 < n_pairs; i0 += chunk)
    values.push_back(run_bucket_rows(model, runs, sweep, b, readout, i0, std::min(chunk, n_pairs - i0), b.first() > 0 ? &prefix : nullptr, metric));
  return at::cat(values, 0);
}

// Writes `values` ([pair, variants]) into the result at layer l (and position p when per position).
void store(at::Tensor& result, const PatchSweep& sweep, int layer, std::int64_t position, const at::Tensor& values) {
  auto slot = result.select(1, layer);  // [pair, (head), (position)]
  if (sweep.per_position) slot = slot.select(-1, position);
  if (sweep.per_head) slot.copy_(values);
  else slot.copy_(values.select(1, 0));
}

// patch_sweep over pairs that fit one chunk.
PatchResult patch_chunk(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                        const PatchSweep& sweep, PatchDirection direction, const PatchOptions& options) {
  const auto& c = model.config();
  const auto setup = detail::setup_patch(model, pairs, sweep, direction);
  const int readout = metric.layer();
  const auto n_pairs = static_cast<std::int64_t>(pairs.size());
  at::InferenceMode no_grad;
  const auto runs = run_unpatched(model, setup, sweep, metric);

  PatchResult r = detail::start_result(sweep, direction, runs.receiving_metric, runs.source_metric);
  // Every patch starts out as "no change": exactly the receiving run's metric.
  const auto shape = detail::result_shape(sweep, n_pairs, c, setup.length);
  std::vector<std::int64_t> per_pair(shape.size(), 1);
  per_pair[0] = n_pairs;
  r.metric = runs.receiving_metric.view(per_pair).expand(shape).clone();

  // Where a pair's two prompts still agree, a patch is exactly no change: positions no pair
  // differs at are not run, and pairs agreeing at a run position keep the receiving metric.
  const auto shared_by_all = runs.shared_prefix.min().item<std::int64_t>();
  const std::int64_t variants = sweep.per_head ? site_heads(sweep.site, c) : 1;
  const auto bucket_size = static_cast<std::size_t>(positions_per_bucket(options, n_pairs, variants));
  for (int l = 0; l <= readout; ++l) {
    const auto positions = positions_to_run(sweep, l, readout, setup.target, shared_by_all);
    for (std::size_t b0 = 0; b0 < positions.size(); b0 += bucket_size) {
      PatchBucket bucket{.layer = l,
                         .positions = {positions.begin() + static_cast<std::ptrdiff_t>(b0),
                                       positions.begin() + static_cast<std::ptrdiff_t>(std::min(positions.size(), b0 + bucket_size))},
                         .variants = variants,
                         .split_at_layer = sweep.per_position && detail::position_local(sweep.site) && l < readout};
      const auto values = run_bucket(model, runs, sweep, bucket, readout, metric, options);  // [pair, positions, variants]
      for (std::size_t k = 0; k < bucket.positions.size(); ++k) {
        const auto p = bucket.positions[k];
        auto value = values.select(1, static_cast<std::int64_t>(k));  // [pair, variants]
        if (sweep.per_position) value = at::where(runs.shared_prefix.gt(p).view({n_pairs, 1}), runs.receiving_metric.view({n_pairs, 1}), value);
        store(r.metric, sweep, l, p, value);
      }
    }
  }
  return r;
}

}  // namespace

PatchResult patch_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                        const PatchSweep& sweep, PatchDirection direction, const PatchOptions& options) {
  const auto setup = detail::setup_patch(model, pairs, sweep, direction);
  // The unpatched runs cache the site, keys, values and residual stream of every layer.
  const auto chunk = rows_per_pass(forward_activation_bytes(model.config(), setup.target + 1, metric.layer() + 1));
  std::vector<PatchResult> parts;
  detail::for_each_pair_chunk(pairs, metric, chunk, [&](const std::vector<PromptPair>& part, const Metric& m, std::int64_t) {
    parts.push_back(patch_chunk(model, part, m, sweep, direction, options));
  });
  return detail::concat_pairs(std::move(parts));
}

PatchResult patch_sweep_naive(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
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
