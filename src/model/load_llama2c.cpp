// llama2.c legacy checkpoints (model.bin): header, then float32 weights in a fixed order.
#include <cstring>
#include <filesystem>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/model/llama2c_header.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay {

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
