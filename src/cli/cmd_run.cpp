// patchbay run: smoke run of the default model on the seed prompt, printing the top next tokens.
#include <ATen/ATen.h>

#include "command.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {

// The prefix of the word-index experiment (the seed prompt).
constexpr const char* kSeedPrompt =
    "The United States Declaration of Independence received its first formal public reading, in Philadelphia.\nWhen";

void add_run_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  struct Options {
    std::string model, prompt = kSeedPrompt;
    int top = 10;
    bool no_bos = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("run", "load a model, run the seed prompt and print the top next tokens");
  cmd->add_option("--model", o->model, "model directory (default: the default model)");
  cmd->add_option("--prompt", o->prompt, "prompt text");
  cmd->add_option("--top", o->top, "how many next tokens to print")->check(CLI::Range(1, 100));
  cmd->add_flag("--no-bos", o->no_bos, "do not prepend the BOS token (default: prepend it, as TransformerLens does)");
  cmd->callback([&selected, &global, o] {
    selected = [&global, o] {
      const auto dir = resolve_model_dir(o->model);
      Model model = load_model(dir, parse_device(global.device));
      const auto& c = model.config();
      const auto& tok = model.tokenizer();
      fmt::print("model {} ({}): {} layers, d_model {}, {} heads ({} kv), d_mlp {}, vocab {}, context {}\n", c.name,
                 dir, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.d_mlp, c.d_vocab, c.n_ctx);
      // BOS first, as TransformerLens's to_tokens does (and llama2.c models are trained with it).
      auto ids = tok.encode(o->prompt, /*bos=*/!o->no_bos);
      fmt::print("prompt: {} tokens{}\n", ids.size(), o->no_bos ? "" : " (BOS first)");

      at::InferenceMode no_grad;
      auto logits = model.forward(at::tensor(ids, at::kLong).unsqueeze(0));  // [1, pos, vocab]
      auto probs = at::softmax(logits[0][-1], -1);
      auto [p, idx] = at::topk(probs, std::min<std::int64_t>(o->top, c.d_vocab));
      fmt::print("top next tokens after \"...{}\":\n", o->prompt.substr(o->prompt.size() > 30 ? o->prompt.size() - 30 : 0));
      for (std::int64_t i = 0; i < p.size(0); ++i) {
        auto id = idx[i].item<std::int64_t>();
        fmt::print("  {:6.2f}%  {:>6}  {:?}\n", 100.0 * p[i].item<float>(), id, tok.token_text(id));
      }
    };
  });
}

}  // namespace patchbay::cli
