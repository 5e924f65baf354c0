#pragma once
// Models written back as checkpoints the loaders read.
#include <string>

#include "patchbay/model/model.hpp"

namespace patchbay {

// The safetensors file for a GPT-2-family model (Hugging Face names without the
// "transformer." prefix, Conv1D weights [in, out]) and its config.json, into `dir`.
void export_gpt2_checkpoint(const Model& model, const std::string& dir);

}  // namespace patchbay
