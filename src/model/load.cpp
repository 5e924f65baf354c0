#include "patchbay/model/load.hpp"

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <string_view>

#include "patchbay/core/error.hpp"
#include "patchbay/core/version.hpp"
#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "patchbay/tokenizer/llama2c.hpp"

namespace patchbay {
namespace fs = std::filesystem;

std::optional<std::string> detect_model_format(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "model.safetensors") && fs::exists(fs::path(dir) / "config.json")) return "gpt2";
  if (fs::exists(fs::path(dir) / "model.bin")) return "llama2c";
  return std::nullopt;
}

std::shared_ptr<const Tokenizer> load_tokenizer(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "tokenizer.bin")) return Llama2cTokenizer::from_file((d / "tokenizer.bin").string());
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return Gpt2Tokenizer::from_files((d / "vocab.json").string(), (d / "merges.txt").string());
  return nullptr;
}

Model load_model(const std::string& dir, const at::Device& device) {
  if (!fs::is_directory(dir)) fail<InputError>("model directory '{}' does not exist", dir);
  auto format = detect_model_format(dir);
  if (!format)
    fail<InputError>("'{}' holds no model: expected config.json + model.safetensors (GPT-2) or model.bin + "
                     "tokenizer.bin (llama2.c)",
                     dir);
  Model model = *format == "gpt2" ? load_gpt2(dir) : load_llama2c(dir);
  model.to(device);
  return model;
}

std::vector<std::string> model_search_path() {
  std::vector<std::string> out;
  auto add = [&](const fs::path& dir) {
    auto absolute = fs::weakly_canonical(fs::absolute(dir)).string();
    if (std::find(out.begin(), out.end(), absolute) == out.end()) out.push_back(absolute);
  };
  if (const char* env = std::getenv("PATCHBAY_MODELS"); env != nullptr) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (colon != 0) add(fs::path(std::string(rest.substr(0, colon))));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  for (const fs::path root : {fs::path(source_dir()), fs::current_path()}) {
    add(root / "models");
    add(root / ".." / "shared" / "models");
  }
  return out;
}

std::string default_model_dir() {
  const auto path = model_search_path();
  for (const char* name : {"gpt2", "stories260K"})
    for (const auto& root : path) {
      auto dir = (fs::path(root) / name).string();
      if (fs::is_directory(dir) && detect_model_format(dir)) return dir;
    }
  std::string looked;
  for (const auto& root : path) looked += (looked.empty() ? "" : ", ") + root;
  fail<InputError>("no default model found: looked for gpt2/ (with model.safetensors) and stories260K/ in {}; "
                   "name a model directory, or set PATCHBAY_MODELS to a directory holding one",
                   looked);
}

}  // namespace patchbay
