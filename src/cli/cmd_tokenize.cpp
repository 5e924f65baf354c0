// patchbay tokenize: one JSON string per stdin line -> one JSON array of ids per stdout line.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/text.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {
void add_tokenize_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto* cmd = app.add_subcommand("tokenize", "tokenize JSON strings read from stdin, one per line");
  auto model = std::make_shared<std::string>();
  auto bos = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "model directory (default: the default model)");
  cmd->add_flag("--bos", *bos, "prepend the beginning-of-sequence token");
  cmd->callback([&selected, model, bos] {
    selected = [model, bos] {
      const auto dir = resolve_model_dir(*model);
      auto tokenizer = load_tokenizer(dir);
      if (!tokenizer)
        fail<InputError>("'{}' has no tokenizer: expected tokenizer.bin (llama2.c) or vocab.json + merges.txt (GPT-2)", dir);
      std::string line;
      for (int number = 1; std::getline(std::cin, line); ++number) {
        nlohmann::json text;
        try {
          text = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception&) {
          fail<InputError>("stdin line {}: expected a JSON string, got '{}'", number, escape_text(line.substr(0, 80)));
        }
        if (!text.is_string()) fail<InputError>("stdin line {}: expected a JSON string, got {}", number, text.type_name());
        std::cout << nlohmann::json(tokenizer->encode(text.get<std::string>(), *bos)).dump() << '\n';
      }
      std::cout.flush();
    };
  });
  (void)global;
}

}  // namespace patchbay::cli
