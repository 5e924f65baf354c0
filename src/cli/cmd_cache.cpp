// patchbay cache: run a forward pass on given token ids and write every selected hook's
// activation (TransformerLens shapes, batch dimension 1) plus the logits to HDF5.
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "args.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {
namespace {

std::vector<std::int64_t> parse_ids(const std::string& text) {
  std::vector<std::int64_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size()) fail<InputError>("--ids: '{}' is not an integer token id", word);
    ids.push_back(v);
  }
  if (ids.empty()) fail<InputError>("--ids is empty: expected space-separated token ids, e.g. --ids \"1 2 3\"");
  return ids;
}

HookFilter parse_hook_list(const std::string& text, const ModelConfig& config) {
  if (text == "all") return filters::all();
  std::vector<HookId> ids;
  for (const auto& name : split_list(text)) ids.push_back(parse_hook(name, config));
  if (ids.empty()) fail<InputError>("--hooks is empty: expected 'all' or a comma-separated list of hook names");
  return filters::only(std::move(ids));
}

}  // namespace

void add_cache_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  struct Options {
    std::string model, ids, out, hooks = "all";
    bool force = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("cache", "write the activations of one forward pass to HDF5");
  cmd->add_option("--model", o->model, "model directory (default: the default model)");
  cmd->add_option("--ids", o->ids, "space-separated token ids")->required();
  cmd->add_option("--out", o->out, "output .h5 file")->required();
  cmd->add_option("--hooks", o->hooks, "'all' or comma-separated hook names");
  cmd->add_flag("--force", o->force, "overwrite an existing output file");
  cmd->callback([&selected, &global, o] {
    selected = [&global, o] {
      auto ids = parse_ids(o->ids);
      Model model = load_model(resolve_model_dir(o->model), parse_device(global.device));
      auto filter = parse_hook_list(o->hooks, model.config());
      H5Writer out(o->out, o->force);  // refuses an existing file before any work is done

      at::InferenceMode no_grad;
      auto tokens = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, pos]
      auto [logits, cache] = model.run_with_cache(tokens, filter);
      for (const auto& [id, activation] : cache.entries())
        out.write_tensor(to_string(id), activation, {hook_axes(id.site), "activation at the TransformerLens hook " + to_string(id)});
      out.write_tensor("logits", logits, {{"batch", "pos", "d_vocab"}, "output logits"});
      out.write_tensor("tokens", tokens, {{"batch", "pos"}, "input token ids, as given (no BOS added)"});
      out.write_attribute("kind", "activation_cache");
      out.write_attribute("model", model.config().name);
      out.write_attribute("provenance", provenance(model).dump());
      out.write_attribute("config", nlohmann::json{{"ids", ids}, {"hooks", o->hooks}}.dump());
      out.commit();
      fmt::print("wrote {} activations and logits for {} tokens to {}\n", cache.size(), ids.size(), o->out);
    };
  });
}

}  // namespace patchbay::cli
