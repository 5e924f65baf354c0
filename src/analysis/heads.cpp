#include "patchbay/analysis/heads.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "patchbay/analysis/direct.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {

const char* to_string(HeadPattern p) {
  switch (p) {
    case HeadPattern::CurrentWordFirst: return "current_word_first";
    case HeadPattern::PreviousWordFirst: return "previous_word_first";
    case HeadPattern::PreviousWordLast: return "previous_word_last";
    case HeadPattern::LastBreak: return "last_newline_or_full_stop";
    case HeadPattern::SpaceTokens: return "space_tokens";
  }
  return "?";
}

std::vector<std::pair<std::string, double>> HeadScores::ranking(HeadPattern pattern, std::size_t top) const {
  std::vector<std::pair<std::string, double>> out;
  auto s = scores.select(2, static_cast<int>(pattern));
  for (std::int64_t l = 0; l < s.size(0); ++l)
    for (std::int64_t h = 0; h < s.size(1); ++h) {
      double v = s[l][h].item<double>();
      if (!std::isnan(v)) out.emplace_back(head_name(static_cast<int>(l), h), v);
    }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > top) out.resize(top);
  return out;
}

HeadScores head_pattern_scores(const Model& model, const std::vector<Prompt>& prompts, int batch_size) {
  const auto& c = model.config();
  if (prompts.empty()) fail<InputError>("no prompts for attention-pattern scores");
  if (!model.has_tokenizer()) fail<InputError>("attention-pattern scores need the model's tokenizer (to find newlines and full stops)");
  const auto& tok = model.tokenizer();
  std::vector<bool> is_break(static_cast<std::size_t>(tok.vocab_size()));
  for (std::int64_t id = 0; id < tok.vocab_size(); ++id) {
    auto text = tok.token_text(id);
    is_break[static_cast<std::size_t>(id)] = text.find('\n') != std::string::npos || text.find('.') != std::string::npos;
  }
  std::vector<HookId> hooks;
  for (int l = 0; l < c.n_layers; ++l) hooks.push_back(hook::pattern(l));

  auto sums = at::zeros({c.n_layers, c.n_heads, kNumHeadPatterns}, at::kDouble);
  auto counts = at::zeros({kNumHeadPatterns}, at::kDouble);
  at::InferenceMode no_grad;
  for (std::size_t start = 0; start < prompts.size(); start += static_cast<std::size_t>(batch_size)) {
    const auto end = std::min(prompts.size(), start + static_cast<std::size_t>(batch_size));
    std::int64_t width = 0;
    for (auto i = start; i < end; ++i) width = std::max<std::int64_t>(width, prompts[i].tokens.size());
    auto tokens = at::zeros({static_cast<std::int64_t>(end - start), width}, at::kLong);  // right-padded
    for (auto i = start; i < end; ++i)
      tokens[static_cast<std::int64_t>(i - start)].narrow(0, 0, static_cast<std::int64_t>(prompts[i].tokens.size()))
          .copy_(at::tensor(prompts[i].tokens, at::kLong));
    auto cache = model.run_with_cache(tokens, filters::only(hooks), ForwardOptions().stop_after(static_cast<int>(c.n_layers) - 1)).second;
    // Per (prompt, query): a weight over key positions for each pattern, then one einsum per layer.
    auto weights = at::zeros({static_cast<std::int64_t>(end - start), width, width, kNumHeadPatterns}, at::kFloat);
    auto wa = weights.accessor<float, 4>();
    for (auto i = start; i < end; ++i) {
      const auto& p = prompts[i];
      const auto b = static_cast<std::int64_t>(i - start);
      const auto n = static_cast<std::int64_t>(p.tokens.size());
      std::int64_t last_break = -1;
      for (std::int64_t q = 0; q < n; ++q) {
        if (is_break[static_cast<std::size_t>(p.tokens[q])]) last_break = q;
        const int u = p.unit[q];
        if (u < 0) continue;  // queries in the prefix are not counted
        auto mark = [&](HeadPattern pat, std::int64_t k) {
          wa[b][q][k][static_cast<int>(pat)] = 1.0f;
        };
        for (std::int64_t k = 0; k <= q; ++k) {
          if (p.unit[k] == u && p.first[k]) mark(HeadPattern::CurrentWordFirst, k);
          if (u > 0 && p.unit[k] == u - 1 && p.first[k]) mark(HeadPattern::PreviousWordFirst, k);
          if (u > 0 && p.unit[k] == u - 1 && p.last[k]) mark(HeadPattern::PreviousWordLast, k);
          if (p.space[k]) mark(HeadPattern::SpaceTokens, k);
        }
        if (last_break >= 0) mark(HeadPattern::LastBreak, last_break);
      }
    }
    auto applies = (weights.sum(2) > 0).to(at::kDouble);  // [batch, q, pattern]: queries where a pattern exists
    counts += applies.sum(at::IntArrayRef{0, 1});
    for (int l = 0; l < c.n_layers; ++l) {
      auto pattern = cache.at(hook::pattern(l)).to(at::kCPU, at::kFloat);  // [batch, head, q, k]
      sums[l] += at::einsum("bhqk,bqkp->hp", {pattern, weights}).to(at::kDouble);
    }
  }
  HeadScores r;
  r.scores = (sums / counts).to(at::kFloat);  // NaN where a pattern never applied
  for (int p = 0; p < kNumHeadPatterns; ++p) r.patterns.emplace_back(to_string(static_cast<HeadPattern>(p)));
  return r;
}

AttentionExample attention_example(const Model& model, const std::vector<std::int64_t>& tokens,
                                   const std::vector<std::pair<int, std::int64_t>>& heads, std::string prompt) {
  const auto& c = model.config();
  std::vector<HookId> hooks;
  for (const auto& [layer, head] : heads) {
    if (layer < 0 || layer >= c.n_layers || head < 0 || head >= c.n_heads)
      fail<InputError>("attention example: no head {} in layer {} ({} layers of {} heads)", head, layer, c.n_layers, c.n_heads);
    hooks.push_back(hook::pattern(layer));
  }
  at::InferenceMode no_grad;
  auto batch = at::tensor(tokens, at::kLong).unsqueeze(0).to(model.device());  // [1, pos]
  auto cache = model.run_with_cache(batch, filters::only(hooks)).second;
  AttentionExample out{.prompt = std::move(prompt)};
  std::vector<at::Tensor> patterns;  // each [q, k]
  for (auto id : tokens) out.tokens.push_back(model.tokenizer().token_text(id));
  for (const auto& [layer, head] : heads) {
    out.heads.push_back(head_name(layer, head));
    patterns.push_back(cache.at(hook::pattern(layer))[0][head].to(at::kCPU, at::kFloat));
  }
  out.patterns = patterns.empty() ? at::zeros({0, static_cast<std::int64_t>(tokens.size()), static_cast<std::int64_t>(tokens.size())})
                                  : at::stack(patterns);
  return out;
}

}  // namespace patchbay
