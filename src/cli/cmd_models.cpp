// patchbay models: where models are looked for, what each directory holds, and which one a
// command without --model would use (and why).
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {
namespace {
namespace fs = std::filesystem;

// What one search-path directory holds: each subdirectory with a model or a tokenizer.
nlohmann::json describe_root(const std::string& root) {
  nlohmann::json models = nlohmann::json::array();
  std::error_code ec;
  if (fs::is_directory(root, ec))
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (!entry.is_directory()) continue;
      const auto dir = entry.path().string();
      const auto format = detect_model_format(dir);
      const bool tokenizer = load_tokenizer(dir) != nullptr;
      if (!format && !tokenizer) continue;
      models.push_back({{"name", entry.path().filename().string()},
                        {"format", format ? nlohmann::json(*format) : nlohmann::json(nullptr)},
                        {"tokenizer", tokenizer}});
    }
  std::sort(models.begin(), models.end(), [](const auto& a, const auto& b) { return a["name"] < b["name"]; });
  return {{"dir", root}, {"exists", fs::is_directory(root, ec)}, {"embedded", is_embedded_model_root(root)}, {"models", models}};
}

nlohmann::json models_json() {
  nlohmann::json path = nlohmann::json::array();
  for (const auto& root : model_search_path()) path.push_back(describe_root(root));
  nlohmann::json out{{"search_path", path}};
  try {
    const auto model = find_default_model();
    out["default"] = {{"dir", model.dir}, {"reason", model.reason}};
  } catch (const InputError& e) {
    out["default"] = nullptr;
    out["error"] = e.what();
  }
  return out;
}

void print_models(const nlohmann::json& j) {
  fmt::print("model search path (first match wins; GPT-2 Small preferred to stories260K):\n");
  for (const auto& root : j["search_path"]) {
    std::string held;
    for (const auto& m : root["models"])
      held += fmt::format("{}{} ({})", held.empty() ? "" : ", ", m["name"].get<std::string>(),
                          m["format"].is_null() ? "tokenizer only" : m["format"].get<std::string>());
    if (!root["exists"].get<bool>()) held = "absent";
    fmt::print("  {}{}: {}\n", root["dir"].get<std::string>(), root["embedded"].get<bool>() ? " [embedded]" : "",
               held.empty() ? "no models" : held);
  }
  if (j["default"].is_null())
    fmt::print("default: none ({})\n", j["error"].get<std::string>());
  else
    fmt::print("default: {}\n  because: {}\n", j["default"]["dir"].get<std::string>(), j["default"]["reason"].get<std::string>());
}

}  // namespace

void add_models_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto* cmd = app.add_subcommand("models", "where models are looked for and which one is the default");
  auto json = std::make_shared<bool>(false);
  auto only_default = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->add_flag("--default", *only_default, "print only the default model's directory (exit 1 when there is none)");
  cmd->callback([&selected, json, only_default] {
    selected = [json, only_default] {
      if (*only_default) {
        fmt::print("{}\n", find_default_model().dir);
        return;
      }
      const auto j = models_json();
      if (*json)
        fmt::print("{}\n", j.dump(2));
      else
        print_models(j);
    };
  });
  (void)global;
}

}  // namespace patchbay::cli
