#include "patchbay/probe/probe_source.hpp"

#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/probe/probe_io.hpp"

namespace patchbay {
namespace {

void require_word_index_file(const H5Reader& in, const std::string& path) {
  if (in.attribute("kind") != std::optional<std::string>("word_index"))
    fail<InputError>("'{}' is not a word-index result file (kind {}); a probe comes from 'patchbay word-index'", path,
                     in.attribute("kind").value_or("missing"));
}

// The dataset the probe was trained on: the pairs built for it must match (prefix, BOS, word
// lengths), so a summary without it is refused rather than replaced by defaults.
ProbeDataset read_dataset(const nlohmann::json& summary, const std::string& path) {
  const auto what = fmt::format("'{}': attribute 'summary'", path);
  const auto d = json_required<nlohmann::json>(summary, "dataset", what);
  for (const char* key : {"prefix", "word_lengths"})
    if (!d.contains(key)) fail<FormatError>("{}: field 'dataset.{}' is missing; a word-index run writes it", what, key);
  ProbeDataset out;
  try {
    out.prefix = d.value("prefix", out.prefix);
    out.bos = d.value("bos", out.bos);
    out.word_lengths = d.value("word_lengths", out.word_lengths);
    out.seed = d.value("seed", out.seed);
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>("'{}': the summary's dataset settings have the wrong types ({})", path, e.what());
  }
  return out;
}

int block_layer(const std::string& name, const Model& model) {
  if (name == "embed") fail<InputError>("the embedding probe reads no block output; choose a layer 0..{}", model.config().n_layers - 1);
  std::size_t end = 0;
  int layer = -1;
  try {
    layer = std::stoi(name, &end);
  } catch (const std::exception&) {
  }
  if (end != name.size() || layer < 0 || layer >= model.config().n_layers)
    fail<InputError>("probe layer '{}' is not a block of {} (expected 0..{})", name, model.config().name, model.config().n_layers - 1);
  return layer;
}

}  // namespace

LogisticProbe read_word_index_probe(const std::string& path, const std::string& layer) {
  H5Reader in(path);
  require_word_index_file(in, path);
  const std::string g = "layers/" + layer + "/probe";
  if (!in.has(g + "/W")) {
    std::string layers;
    for (const auto& d : in.datasets())
      if (d.ends_with("/probe/W")) layers += (layers.empty() ? "" : ", ") + d.substr(7, d.size() - 7 - 8);
    fail<InputError>("'{}' has no probe for layer '{}' (it has: {})", path, layer, layers);
  }
  return read_probe(in, g);
}

ProbeSource load_probe_for(const Model& model, const std::string& path, const std::string& layer) {
  H5Reader in(path);
  require_word_index_file(in, path);
  const auto summary = read_json_attribute(in, "summary"), file_provenance = read_json_attribute(in, "provenance");
  const auto about = [&](const char* attribute) {
    const auto& j = std::string(attribute) == "summary" ? summary : file_provenance;
    const auto what = fmt::format("'{}': attribute '{}'", path, attribute);
    if (!j.is_object())
      fail<FormatError>("{} is {}, expected the JSON object a word-index run writes", what, j.is_null() ? "missing" : j.type_name());
    return what;
  };
  const auto summary_what = about("summary"), provenance_what = about("provenance");
  const std::string this_model = weights_sha256(model);
  const auto probe_model = json_required<std::string>(file_provenance, "model_sha256", provenance_what);
  if (probe_model != this_model)
    fail<InputError>("probe file '{}' was made with another model ({} with weights sha256 {}), not {} ({})", path,
                     json_field<std::string>(file_provenance, "model", "?", provenance_what), probe_model.substr(0, 12),
                     model.config().name, this_model.substr(0, 12));
  ProbeSource p;
  p.path = path;
  const std::string name = layer.empty() ? json_required<std::string>(summary, "main_layer", summary_what) : layer;
  p.layer = block_layer(name, model);
  p.probe = read_word_index_probe(path, name);
  if (p.probe.n_features() != model.config().d_model)
    fail<InputError>("probe in '{}' reads {} features; {} has d_model {}", path, p.probe.n_features(), model.config().name,
                     model.config().d_model);
  p.dataset = read_dataset(summary, path);
  return p;
}

}  // namespace patchbay
