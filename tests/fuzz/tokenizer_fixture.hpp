#pragma once
// The real tokenizers, loaded once per fuzzing process from ../shared/models (or
// $PATCHBAY_FUZZ_MODELS).
#include <cstdlib>
#include <memory>
#include <string>

#include "patchbay/model/load.hpp"

namespace patchbay::fuzz {
inline std::shared_ptr<const Tokenizer> tokenizer(const char* model) {
  const char* root = std::getenv("PATCHBAY_FUZZ_MODELS");
  const std::string dir = std::string(root ? root : PATCHBAY_SHARED_DIR "/models") + "/" + model;
  auto t = load_tokenizer(dir);
  if (!t) std::abort();  // the fuzz run needs the tokenizer files
  return t;
}
}  // namespace patchbay::fuzz
