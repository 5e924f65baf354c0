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

namespace {

// Directories that may hold the embedded models (third_party/models/ of the source checkout;
// share/patchbay/models/ of an installed package, found from the running executable).
std::vector<fs::path> embedded_model_roots() {
  std::vector<fs::path> roots{fs::path(source_dir()) / "third_party" / "models"};
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  const auto installed = exe.parent_path().parent_path() / "share" / "patchbay" / "models";
  if (!ec && fs::is_directory(installed, ec)) roots.push_back(installed);  // only an installed executable has one
  return roots;
}

std::vector<std::string> user_model_roots() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("PATCHBAY_MODELS"); env != nullptr) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (colon != 0) out.emplace_back(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  for (const fs::path root : {fs::path(source_dir()), fs::current_path()}) {
    out.push_back((root / "models").string());
    out.push_back((root / ".." / "shared" / "models").string());
  }
  return out;
}

std::string absolute(const std::string& dir) { return fs::weakly_canonical(fs::absolute(dir)).string(); }

std::string joined(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& dir : dirs) out += (out.empty() ? "" : ", ") + dir;
  return out;
}

}  // namespace

bool is_embedded_model_root(const std::string& dir) {
  for (const auto& embedded : embedded_model_roots())
    if (absolute(embedded.string()) == absolute(dir)) return true;
  return false;
}

std::vector<std::string> model_search_path() {
  std::vector<std::string> out;
  auto add = [&](const std::string& dir) {
    auto path = absolute(dir);
    if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
  };
  for (const auto& root : user_model_roots()) add(root);
  for (const auto& root : embedded_model_roots()) add(root.string());
  return out;
}

DefaultModel find_default_model() {
  const auto path = model_search_path();
  auto first_with = [&](const char* name) -> std::optional<std::string> {
    for (const auto& root : path) {
      auto dir = (fs::path(root) / name).string();
      if (fs::is_directory(dir) && detect_model_format(dir)) return root;
    }
    return std::nullopt;
  };
  if (auto root = first_with("gpt2")) return {(fs::path(*root) / "gpt2").string(), "GPT-2 Small weights found in " + *root};
  const std::string no_gpt2 = "no GPT-2 Small weights (gpt2/model.safetensors) in " + joined(path);
  if (auto root = first_with("stories260K")) {
    const auto where = is_embedded_model_root(*root) ? "the embedded copy in " + *root : *root;
    return {(fs::path(*root) / "stories260K").string(), "stories260K from " + where + "; " + no_gpt2};
  }
  fail<InputError>("no default model found: looked for gpt2/ (with model.safetensors) and stories260K/ in {}; "
                   "name a model directory, or set PATCHBAY_MODELS to a directory holding one",
                   joined(path));
}

std::string default_model_dir() { return find_default_model().dir; }

}  // namespace patchbay
