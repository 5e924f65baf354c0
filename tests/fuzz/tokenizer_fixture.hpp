#pragma once
// The real tokenizers, loaded once per fuzzing process from the embedded models
// (third_party/models, or $PATCHBAY_FUZZ_MODELS), constructed directly so the fuzz build needs no tensor library.
#include <cstdlib>
#include <memory>
#include <string>

#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "patchbay/tokenizer/llama2c.hpp"

namespace patchbay::fuzz {
inline std::string model_dir(const char* model) {
  const char* root = std::getenv("PATCHBAY_FUZZ_MODELS");
  return std::string(root ? root : PATCHBAY_EMBEDDED_MODELS) + "/" + model;
}
inline std::shared_ptr<const Tokenizer> gpt2() {
  const auto dir = model_dir("gpt2");
  return Gpt2Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
}
inline std::shared_ptr<const Tokenizer> llama2c() { return Llama2cTokenizer::from_file(model_dir("stories260K") + "/tokenizer.bin"); }
}  // namespace patchbay::fuzz
