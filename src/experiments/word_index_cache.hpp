#pragma once
// Extracted features cached in HDF5 and reused when the model and dataset match (internal).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/word_index.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/probe/extract.hpp"

namespace patchbay {

struct ActivationFeatures {
  std::vector<at::Tensor> train;  // per layer: [n_train_points, d_model]
  std::vector<at::Tensor> val;    // per layer: [n_val_points, d_model]
};

// Fingerprint of the prompts and points: a cache made for other prompts is never reused.
std::string dataset_fingerprint(const WordIndexDataset& dataset);

// Reads the features from `path` when it was written for this model (weights hash) and dataset
// (fingerprint) and holds every layer; extracts and writes it when the file does not exist.
// Throws InputError when the file exists but belongs to another model or dataset.
ActivationFeatures load_or_extract_features(const std::string& path, const Model& model, const WordIndexDataset& dataset,
                                            const std::vector<int>& layers, const ExtractOptions& options);

}  // namespace patchbay
