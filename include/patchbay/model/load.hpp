#pragma once
// Loading models from a directory whose format is detected from its files:
//   GPT-2 family:  config.json + model.safetensors (+ vocab.json, merges.txt)
//   Llama family:  model.bin (llama2.c legacy format) + tokenizer.bin
#include <optional>
#include <string>

#include "patchbay/model/model.hpp"

namespace patchbay {

// Loads the model in `dir` onto `device`. Throws FormatError naming the file and what was
// expected when anything is missing or malformed.
Model load_model(const std::string& dir, const at::Device& device = at::Device(at::kCPU));

Model load_gpt2(const std::string& dir);
Model load_llama2c(const std::string& dir);

// Directories searched for models, in order, as absolute paths:
//   1. each directory of $PATCHBAY_MODELS (':'-separated), when set;
//   2. models/ and ../shared/models/ beside the source checkout the library was built from
//      (so a driver finds them from any working directory);
//   3. models/ and ../shared/models/ relative to the working directory;
//   4. the embedded models shipped with patchbay (third_party/models/ of the source checkout,
//      share/patchbay/models/ of an installed package): stories260K and GPT-2's tokenizer.
std::vector<std::string> model_search_path();
// Whether `dir` is one of the embedded-model directories of step 4.
bool is_embedded_model_root(const std::string& dir);

// The default model and why it was chosen (for the user: which directories had what).
struct DefaultModel {
  std::string dir;     // the model directory
  std::string reason;  // e.g. "stories260K from the embedded copy in ...; no GPT-2 Small weights ... in ..."
};

// GPT-2 Small ("gpt2") when its weights are anywhere on the search path, otherwise
// "stories260K", each from the first directory that has it. Throws InputError listing every
// directory it tried when neither exists.
DefaultModel find_default_model();
std::string default_model_dir();  // find_default_model().dir

// The tokenizer in `dir` (tokenizer.bin, or vocab.json + merges.txt), or nullptr when it has none.
// Needs no weights, so it works for a directory that holds only tokenizer files.
std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& dir);

// Which format a directory holds: "gpt2", "llama2c", or nullopt.
std::optional<std::string> detect_model_format(const std::string& dir);

}  // namespace patchbay
