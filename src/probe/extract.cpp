#include "patchbay/probe/extract.hpp"

#include <algorithm>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/progress.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

HookId probe_layer_hook(int layer) { return layer < 0 ? hook::resid_pre(0) : hook::resid_post(layer); }
std::string probe_layer_name(int layer) { return layer < 0 ? "embed" : std::to_string(layer); }

std::vector<at::Tensor> extract_features(const Model& model, const WordIndexSplit& split, const std::vector<int>& layers,
                                         const ExtractOptions& options) {
  const auto& c = model.config();
  if (layers.empty()) fail<InputError>("no layers requested for extraction");
  for (int l : layers)
    if (l < -1 || l >= c.n_layers) fail<InputError>("probe layer {} is out of range (expected -1 for embeddings or 0..{})", l, c.n_layers - 1);
  if (options.batch_size < 1) fail<InputError>("batch size must be positive, got {}", options.batch_size);
  if (split.max_length() > c.n_ctx)
    fail<InputError>("prompts of up to {} tokens exceed the model's context of {}", split.max_length(), c.n_ctx);

  const int deepest = std::max(0, *std::max_element(layers.begin(), layers.end()));
  std::vector<HookId> hooks;
  for (int l : layers) hooks.push_back(probe_layer_hook(l));

  // Points grouped by prompt, remembering their row in the output.
  std::vector<std::vector<std::pair<std::int32_t, std::int64_t>>> by_prompt(split.prompts.size());  // (position, row)
  for (std::size_t row = 0; row < split.points.size(); ++row)
    by_prompt[static_cast<std::size_t>(split.points[row].prompt)].emplace_back(split.points[row].position, row);
  std::vector<std::int64_t> used;  // prompts that hold points
  for (std::size_t p = 0; p < by_prompt.size(); ++p)
    if (!by_prompt[p].empty()) used.push_back(static_cast<std::int64_t>(p));

  const auto n_points = static_cast<std::int64_t>(split.points.size());
  std::vector<at::Tensor> out;
  for (std::size_t i = 0; i < layers.size(); ++i) out.push_back(at::empty({n_points, c.d_model}, at::kFloat));

  at::InferenceMode no_grad;
  Progress progress("extracting activations", static_cast<std::int64_t>(used.size()), options.progress);
  for (std::size_t start = 0; start < used.size(); start += static_cast<std::size_t>(options.batch_size)) {
    const std::size_t end = std::min(used.size(), start + static_cast<std::size_t>(options.batch_size));
    std::int64_t width = 0;
    for (std::size_t k = start; k < end; ++k) width = std::max<std::int64_t>(width, split.prompts[used[k]].tokens.size());
    auto tokens = at::zeros({static_cast<std::int64_t>(end - start), width}, at::kLong);  // right-padded with id 0
    std::vector<std::int64_t> batch_index, positions, rows;
    for (std::size_t k = start; k < end; ++k) {
      const auto& ids = split.prompts[used[k]].tokens;
      tokens[static_cast<std::int64_t>(k - start)].narrow(0, 0, static_cast<std::int64_t>(ids.size()))
          .copy_(at::tensor(ids, at::kLong));
      for (auto [pos, row] : by_prompt[used[k]]) {
        batch_index.push_back(static_cast<std::int64_t>(k - start));
        positions.push_back(pos);
        rows.push_back(row);
      }
    }
    auto [resid, cache] = model.run_with_cache(tokens, filters::only(hooks), ForwardOptions().stop_after(deepest));
    auto bi = at::tensor(batch_index, at::kLong), pi = at::tensor(positions, at::kLong), ri = at::tensor(rows, at::kLong);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      auto act = cache.at(hooks[i]);  // [batch, width, d_model]
      out[i].index_copy_(0, ri, act.index({bi.to(act.device()), pi.to(act.device())}).to(at::kCPU, at::kFloat));
    }
    progress.advance(static_cast<std::int64_t>(end - start));
  }
  progress.finish();
  return out;
}

std::int64_t stream_activations(const Model& model, const at::Tensor& tokens, const std::vector<HookId>& hooks,
                                H5Writer& out, const ExtractOptions& options) {
  if (tokens.dim() != 2) fail<InputError>("tokens must be [n_sequences, pos]");
  if (hooks.empty()) fail<InputError>("no hooks to extract");
  int deepest = 0;
  bool to_logits = false;
  for (HookId id : hooks) {
    if (id.site > Site::ResidPost && !is_block_site(id.site)) to_logits = true;
    deepest = std::max(deepest, id.layer);
  }
  at::InferenceMode no_grad;
  Progress progress("streaming activations", tokens.size(0), options.progress);
  std::int64_t written = 0;
  for (std::int64_t start = 0; start < tokens.size(0); start += options.batch_size) {
    const auto n = std::min<std::int64_t>(options.batch_size, tokens.size(0) - start);
    auto batch = tokens.narrow(0, start, n);
    ForwardOptions fo;
    if (!to_logits) fo.stop_after(deepest);
    auto cache = model.run_with_cache(batch, filters::only(hooks), fo).second;
    for (HookId id : hooks) {
      const auto& act = cache.at(id);  // [n, pos, ...]
      auto axes = hook_axes(id.site);
      axes.erase(axes.begin(), axes.begin() + 2);
      axes.insert(axes.begin(), "token");  // batch and position flattened, prompt-major
      out.append_rows(to_string(id), act.flatten(0, 1), {axes, "activation at " + to_string(id) + " of every token"});
    }
    written += batch.numel();
    progress.advance(n);
  }
  progress.finish();
  return written;
}

}  // namespace patchbay
