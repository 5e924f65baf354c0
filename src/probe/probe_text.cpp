#include "patchbay/probe/probe_text.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/probe/extract.hpp"

namespace patchbay {

at::Tensor token_features(const Model& model, const at::Tensor& tokens, int layer) {
  const auto& c = model.config();
  if (layer < -1 || layer >= c.n_layers) fail<InputError>("probe layer {} is out of range (expected -1 for embeddings or 0..{})", layer, c.n_layers - 1);
  if (tokens.dim() != 2) fail<InputError>("token_features expects tokens [batch, pos], got {} dimensions", tokens.dim());
  at::InferenceMode no_grad;
  const auto hook = probe_layer_hook(layer);
  auto cache = model.run_with_cache(tokens.to(model.device()), filters::only({hook}), ForwardOptions().stop_after(std::max(layer, 0))).second;
  return cache.at(hook).to(at::kCPU, at::kFloat);
}

ProbeTextResult probe_text(const Model& model, const LogisticProbe& probe, int layer, const std::string& text, bool bos) {
  if (probe.n_features() != model.config().d_model)
    fail<InputError>("the probe reads {} features; {} has d_model {}", probe.n_features(), model.config().name, model.config().d_model);
  ProbeTextResult r;
  r.layer = layer;
  r.text = text;
  r.tokens = model.tokenizer().encode(text, bos);
  if (r.tokens.empty()) fail<InputError>("the text has no tokens");
  for (auto id : r.tokens) r.token_text.push_back(model.tokenizer().token_text(id));
  // Windows of the context length: a token's prediction depends on the window it is read in.
  std::vector<at::Tensor> logits;
  const auto n = static_cast<std::int64_t>(r.tokens.size()), window = model.config().n_ctx;
  const auto all = at::tensor(r.tokens, at::kLong);
  for (std::int64_t start = 0; start < n; start += window) {
    const auto ids = all.narrow(0, start, std::min(window, n - start)).unsqueeze(0);  // [1, pos]
    logits.push_back(probe.logits(token_features(model, ids, layer).squeeze(0)));      // [pos, class]
  }
  const auto l = at::cat(logits, 0);
  r.probabilities = at::softmax(l, 1).to(at::kFloat);
  r.predicted = l.argmax(1).to(at::kLong);
  return r;
}

Intervention zero_head(int layer, std::int64_t head) {
  return {hook::z(layer), [head](at::Tensor& z, HookId) {
            z = z.clone();
            z.select(2, head).zero_();  // z: [batch, pos, head, d_head]
          }};
}

double probe_accuracy(const Model& model, const LogisticProbe& probe, int layer, const WordIndexSplit& split,
                      const std::vector<Intervention>& interventions) {
  std::vector<HookHandle> handles;
  for (const auto& i : interventions) handles.push_back(model.add_hook(i.hook, i.fn));
  const auto features = extract_features(model, split, {layer}, ExtractOptions{.progress = 0}).front();
  std::vector<std::int64_t> labels;
  for (const auto& p : split.points) labels.push_back(p.label);
  return probe.predict(features).eq(at::tensor(labels, at::kLong)).to(at::kDouble).mean().item<double>();
}

void write_probe_text(H5Writer& out, const ProbeTextResult& r) {
  out.write_tensor("tokens", at::tensor(r.tokens, at::kLong), {{"position"}, "token ids of the text (with BOS when the model uses it)"});
  out.write_strings("token_text", r.token_text, {{"position"}, "each token as text"});
  out.write_tensor("predicted", r.predicted, {{"position"}, "the probe's predicted word index for each token"});
  out.write_tensor("probabilities", r.probabilities, {{"position", "class"}, "the probe's probability of each word index", "probability"});
  out.write_attribute("layer", r.layer);
  out.write_attribute("probe", r.probe);
  out.write_attribute("text", r.text);
}

ProbeTextResult read_probe_text(const H5Reader& in) {
  if (in.attribute("kind") != std::optional<std::string>("probe_text"))
    fail<FormatError>("'{}' is not a probe-text result file (kind {})", in.path(), in.attribute("kind").value_or("missing"));
  ProbeTextResult r;
  r.tokens = in.read_int64s("tokens");
  r.token_text = in.read_strings("token_text");
  r.predicted = in.read_tensor("predicted");
  r.probabilities = in.read_tensor("probabilities");
  const auto n = static_cast<std::int64_t>(r.tokens.size());
  if (static_cast<std::int64_t>(r.token_text.size()) != n || r.predicted.dim() != 1 || r.predicted.size(0) != n ||
      r.probabilities.dim() != 2 || r.probabilities.size(0) != n)
    fail<FormatError>("'{}': tokens, token_text, predicted and probabilities disagree on the number of tokens", in.path());
  r.layer = static_cast<int>(in.numeric_attribute("layer").value_or(0));
  r.probe = in.attribute("probe").value_or("");
  r.text = in.attribute("text").value_or("");
  return r;
}

}  // namespace patchbay
