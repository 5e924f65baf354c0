// GPT-2 family from a Hugging Face directory: config.json + model.safetensors.
#include <filesystem>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/io/safetensors.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay {
namespace {

std::int64_t int_field(const nlohmann::json& j, const char* key, const std::string& what,
                       std::optional<std::int64_t> fallback = std::nullopt) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback) return *fallback;
    fail<FormatError>("{}: missing field '{}' (expected an integer)", what, key);
  }
  if (!j[key].is_number_integer())
    fail<FormatError>("{}: field '{}' must be an integer, got {}", what, key, j[key].dump());
  return j[key].get<std::int64_t>();
}

ModelConfig gpt2_config(const std::string& path, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>("{}: not valid JSON ({})", path, e.what());
  }
  if (!j.is_object()) fail<FormatError>("{}: expected a JSON object", path);
  ModelConfig c;
  c.arch = Architecture::GPT2;
  c.name = name;
  c.n_layers = int_field(j, "n_layer", path);
  c.n_heads = int_field(j, "n_head", path);
  c.n_kv_heads = c.n_heads;
  c.d_model = int_field(j, "n_embd", path);
  c.d_head = c.n_heads > 0 ? c.d_model / c.n_heads : 0;
  c.d_mlp = int_field(j, "n_inner", path, 4 * c.d_model);
  c.d_vocab = int_field(j, "vocab_size", path);
  c.n_ctx = int_field(j, "n_positions", path, j.contains("n_ctx") ? std::optional(int_field(j, "n_ctx", path)) : std::nullopt);
  if (j.contains("layer_norm_epsilon")) {
    if (!j["layer_norm_epsilon"].is_number())
      fail<FormatError>("{}: field 'layer_norm_epsilon' must be a number, got {}", path, j["layer_norm_epsilon"].dump());
    c.norm_eps = j["layer_norm_epsilon"].get<double>();
  }
  if (j.contains("activation_function")) {
    const auto& act = j["activation_function"];
    if (!act.is_string() || act.get<std::string>() != "gelu_new")
      fail<FormatError>("{}: activation_function {} is not supported (expected \"gelu_new\")", path, act.dump());
  }
  c.norm = NormKind::LayerNorm;
  c.positions = PositionKind::Learned;
  c.mlp = MlpKind::GeluNew;
  c.validate(path);
  return c;
}

// Reads tensors by their GPT-2 names, checks shapes against config.json, and tracks which
// tensors were used so unexpected ones can be reported.
class Gpt2TensorReader {
 public:
  explicit Gpt2TensorReader(const std::string& path) : file_(path) {
    bool prefixed = false, bare = false;
    for (const auto& [name, info] : file_.tensors()) (name.rfind("transformer.", 0) == 0 ? prefixed : bare) = true;
    prefix_ = prefixed && !file_.contains("wte.weight") ? "transformer." : "";
  }

  at::Tensor get(const std::string& name, std::vector<std::int64_t> shape) {
    const std::string full = prefix_ + name;
    if (!file_.contains(full))
      fail<FormatError>("{}: missing tensor '{}' (expected shape {})", file_.path(), full, shape_str(shape));
    const auto& info = file_.tensors().at(full);
    if (info.shape != shape)
      fail<FormatError>("{}: tensor '{}' has shape {} but config.json implies {}", file_.path(), full,
                        shape_str(info.shape), shape_str(shape));
    used_.insert(full);
    return file_.load_f32(full);
  }

  // Every tensor must be either used or one of the buffers GPT-2 checkpoints carry.
  void check_no_unexpected(const ModelConfig& c) {
    for (const auto& [name, info] : file_.tensors()) {
      if (used_.count(name)) continue;
      std::string bare = name.rfind(prefix_, 0) == 0 ? name.substr(prefix_.size()) : name;
      bool mask_buffer = bare.rfind("h.", 0) == 0 && (bare.ends_with(".attn.bias") || bare.ends_with(".attn.masked_bias"));
      if (mask_buffer) continue;
      if (name == "lm_head.weight" && info.shape == std::vector<std::int64_t>{c.d_vocab, c.d_model}) continue;
      fail<FormatError>("{}: unexpected tensor '{}' (shape {}) for a GPT-2 checkpoint", file_.path(), name,
                        shape_str(info.shape));
    }
  }

  bool has(const std::string& name) const { return file_.contains(name); }
  at::Tensor load_raw(const std::string& name) { return file_.load_f32(name); }

 private:
  SafetensorsFile file_;
  std::string prefix_;
  std::set<std::string> used_;
};

}  // namespace

Model load_gpt2(const std::string& dir) {
  namespace fs = std::filesystem;
  auto name = fs::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(dir).lexically_normal().parent_path().filename().string();
  const ModelConfig c = gpt2_config((fs::path(dir) / "config.json").string(), name);
  const std::string weights_path = (fs::path(dir) / "model.safetensors").string();
  Gpt2TensorReader r(weights_path);

  const auto d = c.d_model;
  ModelWeights w;
  w.W_E = r.get("wte.weight", {c.d_vocab, d});
  w.W_pos = r.get("wpe.weight", {c.n_ctx, d});
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    LayerWeights lw;
    lw.ln1 = {r.get(p + "ln_1.weight", {d}), r.get(p + "ln_1.bias", {d})};
    // Conv1D weights are stored [in, out]: exactly patchbay's x @ W layout. c_attn's columns
    // are q | k | v, each head-major.
    lw.W_qkv = r.get(p + "attn.c_attn.weight", {d, 3 * d});
    lw.b_qkv = r.get(p + "attn.c_attn.bias", {3 * d});
    lw.W_O = r.get(p + "attn.c_proj.weight", {d, d});
    lw.b_O = r.get(p + "attn.c_proj.bias", {d});
    lw.ln2 = {r.get(p + "ln_2.weight", {d}), r.get(p + "ln_2.bias", {d})};
    lw.W_in = r.get(p + "mlp.c_fc.weight", {d, c.d_mlp});
    lw.b_in = r.get(p + "mlp.c_fc.bias", {c.d_mlp});
    lw.W_out = r.get(p + "mlp.c_proj.weight", {c.d_mlp, d});
    lw.b_out = r.get(p + "mlp.c_proj.bias", {d});
    w.layers.push_back(std::move(lw));
  }
  w.ln_final = {r.get("ln_f.weight", {d}), r.get("ln_f.bias", {d})};
  w.W_U = w.W_E.t();  // tied unembedding: [d_model, d_vocab]
  r.check_no_unexpected(c);
  warn_non_finite(w, weights_path);

  return Model(c, std::move(w), load_tokenizer(dir), ModelSource{dir, weights_path});
}

}  // namespace patchbay
