#include "word_index_cache.hpp"

#include <filesystem>

#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

std::string dataset_fingerprint(const WordIndexDataset& ds) {
  Fingerprint f;
  for (const auto* split : {&ds.train, &ds.val}) {
    for (const auto& p : split->prompts) {
      f.add(p.tokens.data(), p.tokens.size());
      std::int64_t sep = -1;
      f.add(&sep, 1);
    }
    for (const auto& pt : split->points) f.add(&pt, 1);
  }
  return f.hex();
}

ActivationFeatures load_or_extract_features(const std::string& path, const Model& model, const WordIndexDataset& ds,
                                            const std::vector<int>& layers, const ExtractOptions& options) {
  const std::string fingerprint = dataset_fingerprint(ds);
  const std::string model_hash = weights_sha256(model);
  auto dataset_name = [](const char* split, int layer) { return fmt::format("{}/{}", split, probe_layer_name(layer)); };

  if (std::filesystem::exists(path)) {
    H5Reader in(path);
    auto file_model = in.attribute("model_sha256"), file_fp = in.attribute("dataset_fingerprint");
    if (file_model != model_hash)
      fail<InputError>("activation cache '{}' was made with another model (weights sha256 {}, this model {}); delete it "
                       "or choose another path",
                       path, file_model.value_or("missing"), model_hash);
    if (file_fp != fingerprint)
      fail<InputError>("activation cache '{}' was made for another dataset (fingerprint {}, this run {}); delete it or "
                       "choose another path",
                       path, file_fp.value_or("missing"), fingerprint);
    ActivationFeatures f;
    for (int l : layers) {
      for (const char* split : {"train", "val"})
        if (!in.has(dataset_name(split, l)))
          fail<InputError>("activation cache '{}' lacks layer {}; delete it to re-extract", path, probe_layer_name(l));
      f.train.push_back(in.read_tensor(dataset_name("train", l)));
      f.val.push_back(in.read_tensor(dataset_name("val", l)));
      const auto expected_rows = static_cast<std::int64_t>(ds.train.points.size());
      if (f.train.back().dim() != 2 || f.train.back().size(0) != expected_rows || f.train.back().size(1) != model.config().d_model)
        fail<FormatError>("activation cache '{}': layer {} has shape {}, expected [{}, {}] (train points, d_model)", path,
                          probe_layer_name(l), shape_str(f.train.back().sizes()), expected_rows, model.config().d_model);
      // A forward pass gives finite activations: NaN or Inf means a damaged cache, whose probes
      // would be NaN yet look trained.
      for (const auto& [split, features] : {std::pair{"train", f.train.back()}, {"val", f.val.back()}})
        if (!at::isfinite(features).all().item<bool>())
          fail<FormatError>("activation cache '{}': {} holds NaN or Inf; expected the activations of a forward pass (delete it "
                            "to extract again)", path, dataset_name(split, l));
    }
    return f;
  }

  ActivationFeatures f{extract_features(model, ds.train, layers, options), extract_features(model, ds.val, layers, options)};
  H5Writer out(path, /*overwrite=*/false);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    for (auto [split, features] : {std::pair{"train", &f.train[i]}, std::pair{"val", &f.val[i]}})
      out.write_tensor(dataset_name(split, layers[i]), *features,
                       {{"point", "d_model"}, fmt::format("residual stream read by the probe of layer {} at each {} point (rows of dataset/{}/points)",
                                                          probe_layer_name(layers[i]), split, split)});
  }
  out.write_attribute("kind", "activation_features");
  out.write_attribute("model_sha256", model_hash);
  out.write_attribute("dataset_fingerprint", fingerprint);
  out.write_attribute("provenance", provenance(model).dump());
  out.commit();
  return f;
}

}  // namespace patchbay
