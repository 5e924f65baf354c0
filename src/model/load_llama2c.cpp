// llama2.c legacy checkpoints (model.bin): header, then float32 weights in a fixed order.
#include <cstring>
#include <filesystem>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/model/llama2c_header.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay {

Llama2cHeader parse_llama2c_header(const std::uint8_t* data, std::size_t file_size, const std::string& what) {
  if (file_size < kLlama2cHeaderBytes)
    fail<FormatError>("{}: {} bytes, too short for the 28-byte llama2.c header", what, file_size);
  std::int32_t f[7];
  std::memcpy(f, data, sizeof f);
  Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], f[5] < 0 ? -f[5] : f[5], f[6], f[5] > 0};
  auto check = [&](const char* field, std::int64_t v, std::int64_t limit) {
    if (v <= 0 || v > limit) fail<FormatError>("{}: header field {} = {} is out of range (expected 1..{})", what, field, v, limit);
  };
  check("dim", h.dim, 1 << 16);
  check("hidden_dim", h.hidden_dim, 1 << 20);
  check("n_layers", h.n_layers, 1024);
  check("n_heads", h.n_heads, 1024);
  check("n_kv_heads", h.n_kv_heads, 1024);
  check("vocab_size", f[5] == INT32_MIN ? 0 : h.vocab_size, 1 << 24);
  check("seq_len", h.seq_len, 1 << 20);
  if (h.dim % h.n_heads != 0) fail<FormatError>("{}: n_heads = {} does not divide dim = {}", what, h.n_heads, h.dim);
  if (h.n_heads % h.n_kv_heads != 0)
    fail<FormatError>("{}: n_kv_heads = {} does not divide n_heads = {}", what, h.n_kv_heads, h.n_heads);
  if ((h.dim / h.n_heads) % 2 != 0)
    fail<FormatError>("{}: head size {} is odd; rotary embeddings need pairs", what, h.dim / h.n_heads);
  const std::uint64_t expected = kLlama2cHeaderBytes + 4 * llama2c_weight_count(h);
  if (file_size != expected)
    fail<FormatError>("{}: file is {} bytes but its header implies {} (dim {}, hidden {}, layers {}, heads {}/{}, vocab {}{}, seq_len {})",
                      what, file_size, expected, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads,
                      h.vocab_size, h.shared_classifier ? "" : " untied", h.seq_len);
  return h;
}

std::uint64_t llama2c_weight_count(const Llama2cHeader& h) {
  const std::uint64_t dim = h.dim, hidden = h.hidden_dim, L = h.n_layers, vocab = h.vocab_size;
  const std::uint64_t head = dim / h.n_heads, kv_dim = head * h.n_kv_heads;
  std::uint64_t per_layer = dim /*rms_att*/ + dim * dim /*wq*/ + 2 * kv_dim * dim /*wk, wv*/ + dim * dim /*wo*/ +
                            dim /*rms_ffn*/ + 3 * hidden * dim /*w1, w2, w3*/;
  std::uint64_t n = vocab * dim + L * per_layer + dim /*rms_final*/ + h.seq_len * head /*freq_cis real + imag*/;
  if (!h.shared_classifier) n += vocab * dim;
  return n;
}

ModelConfig llama2c_config(const Llama2cHeader& h, const std::string& name) {
  ModelConfig c;
  c.arch = Architecture::Llama;
  c.name = name;
  c.n_layers = h.n_layers;
  c.d_model = h.dim;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.d_head = h.dim / h.n_heads;
  c.d_mlp = h.hidden_dim;
  c.d_vocab = h.vocab_size;
  c.n_ctx = h.seq_len;
  c.norm_eps = 1e-5;  // llama2.c's rmsnorm
  c.rope_theta = 10000.0;
  c.norm = NormKind::RMSNorm;
  c.positions = PositionKind::Rotary;
  c.mlp = MlpKind::SwiGLU;
  return c;
}

Model load_llama2c(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "model.bin").string();
  MappedFile file(path);
  const Llama2cHeader h = parse_llama2c_header(file.data(), file.size(), path);
  ModelConfig config = llama2c_config(h, fs::path(dir).lexically_normal().filename().string());
  if (config.name.empty()) config.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  config.validate(path);

  // Sequential reader over the float32 payload; every read is in bounds (size checked above).
  const float* cursor = reinterpret_cast<const float*>(file.data() + kLlama2cHeaderBytes);
  auto take = [&](std::vector<std::int64_t> shape) {
    auto t = at::empty(shape, at::kFloat);
    std::memcpy(t.data_ptr<float>(), cursor, static_cast<std::size_t>(t.numel()) * sizeof(float));
    cursor += t.numel();
    return t;
  };
  const std::int64_t L = h.n_layers, dim = h.dim, hidden = h.hidden_dim, kv_dim = dim / h.n_heads * h.n_kv_heads;
  ModelWeights w;
  w.W_E = take({h.vocab_size, dim});
  auto rms_att = take({L, dim});
  auto wq = take({L, dim, dim});  // [out, in] per layer
  auto wk = take({L, kv_dim, dim});
  auto wv = take({L, kv_dim, dim});
  auto wo = take({L, dim, dim});
  auto rms_ffn = take({L, dim});
  auto w1 = take({L, hidden, dim});  // gate
  auto w2 = take({L, dim, hidden});  // down
  auto w3 = take({L, hidden, dim});  // up
  auto rms_final = take({dim});
  cursor += static_cast<std::ptrdiff_t>(h.seq_len) * (dim / h.n_heads);  // legacy freq_cis tables: recomputed instead
  at::Tensor wcls = h.shared_classifier ? w.W_E : take({h.vocab_size, dim});

  for (std::int64_t l = 0; l < L; ++l) {
    LayerWeights lw;
    lw.ln1.w = rms_att[l];
    lw.ln2.w = rms_ffn[l];
    // llama2.c stores [out, in]; patchbay computes x @ W with W [in, out].
    lw.W_qkv = at::cat({wq[l], wk[l], wv[l]}, 0).t().contiguous();
    lw.W_O = wo[l].t().contiguous();
    lw.W_gate = w1[l].t().contiguous();
    lw.W_in = w3[l].t().contiguous();
    lw.W_out = w2[l].t().contiguous();
    w.layers.push_back(std::move(lw));
  }
  w.ln_final.w = rms_final;
  w.W_U = wcls.t().contiguous();

  warn_non_finite(w, path);

  return Model(std::move(config), std::move(w), load_tokenizer(dir), ModelSource{dir, path});
}

}  // namespace patchbay
