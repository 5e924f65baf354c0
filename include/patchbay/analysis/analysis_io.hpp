#pragma once
// The HDF5 layout of the analyses' results, one writer and one reader each (docs/FORMAT.md):
//   direct/<prompts>/{contributions,components,neurons,mlp_bias,total,offset}
//   heads/{scores,patterns}
//   examples/<prompt>/{tokens,heads,patterns}
//   direction_ablation/{loss,loss_ablated,loss_random,kl_ablated,kl_random,attention_change,attention_change_random}
// Readers return an empty result (undefined tensors, empty lists) when the group is absent and
// throw FormatError naming the file and dataset when what is there is inconsistent.
#include <optional>
#include <string>
#include <vector>

#include "patchbay/analysis/direct.hpp"
#include "patchbay/analysis/direction_ablation.hpp"
#include "patchbay/analysis/heads.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

// `prompts` names the group: "clean" or "corrupted".
void write_direct_attribution(H5Writer& out, const std::string& prompts, const DirectAttribution& d);
std::optional<DirectAttribution> read_direct_attribution(const H5Reader& in, const std::string& prompts);

void write_head_scores(H5Writer& out, const HeadScores& scores);
std::optional<HeadScores> read_head_scores(const H5Reader& in);

void write_attention_examples(H5Writer& out, const std::vector<AttentionExample>& examples);
std::vector<AttentionExample> read_attention_examples(const H5Reader& in);

void write_direction_ablation(H5Writer& out, const DirectionAblationResult& result);
std::optional<DirectionAblationResult> read_direction_ablation(const H5Reader& in);

}  // namespace patchbay
