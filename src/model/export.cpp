#include "patchbay/model/export.hpp"

#include <filesystem>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/atomic_file.hpp"
#include "patchbay/io/safetensors_writer.hpp"

namespace patchbay {

void export_gpt2_checkpoint(const Model& model, const std::string& dir) {
  const auto& c = model.config();
  if (c.arch != Architecture::GPT2) fail<InputError>("export_gpt2_checkpoint needs a GPT-2-family model");
  const auto& w = model.weights();
  std::vector<std::pair<std::string, at::Tensor>> t{{"wte.weight", w.W_E}, {"wpe.weight", w.W_pos},
                                                     {"ln_f.weight", w.ln_final.w}, {"ln_f.bias", w.ln_final.b}};
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const auto& lw = w.layers[l];
    const auto p = fmt::format("h.{}.", l);
    for (auto& [name, tensor] : std::vector<std::pair<std::string, at::Tensor>>{
             {"ln_1.weight", lw.ln1.w}, {"ln_1.bias", lw.ln1.b}, {"attn.c_attn.weight", lw.W_qkv}, {"attn.c_attn.bias", lw.b_qkv},
             {"attn.c_proj.weight", lw.W_O}, {"attn.c_proj.bias", lw.b_O}, {"ln_2.weight", lw.ln2.w}, {"ln_2.bias", lw.ln2.b},
             {"mlp.c_fc.weight", lw.W_in}, {"mlp.c_fc.bias", lw.b_in}, {"mlp.c_proj.weight", lw.W_out}, {"mlp.c_proj.bias", lw.b_out}})
      t.emplace_back(p + name, tensor);
  }
  std::filesystem::create_directories(dir);
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), t, {{"format", "pt"}});
  nlohmann::json config{{"model_type", "gpt2"}, {"n_layer", c.n_layers}, {"n_head", c.n_heads}, {"n_embd", c.d_model},
                        {"n_inner", c.d_mlp},   {"n_positions", c.n_ctx}, {"vocab_size", c.d_vocab},
                        {"layer_norm_epsilon", c.norm_eps}, {"activation_function", "gelu_new"}};
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), config.dump(2));
}

}  // namespace patchbay
