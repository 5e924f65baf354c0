#pragma once
// A trained word-index probe read back from the result file of `patchbay word-index`, with the
// prompt distribution it was trained on, checked against the model it will be used with.
#include <string>
#include <vector>

#include "patchbay/model/model.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

// The probe run's prompt distribution, as its summary records it: the one typed description
// of a probe's dataset that everything reusing the probe (pairs, head scores) reads.
struct ProbeDataset {
  std::string prefix;
  bool bos = true;
  std::vector<int> word_lengths{1, 2, 3};  // tokens per word the probe saw
  std::uint64_t seed = 0;                  // the run's dataset seed: decides its train/validation words
};

struct ProbeSource {
  LogisticProbe probe;
  int layer = 0;          // blocks.layer.hook_resid_post
  std::string path;       // the word-index result file it came from
  ProbeDataset dataset;
};

// Loads the probe of `layer` (default: the run's main layer) from a word-index result file and
// checks it belongs to `model` (same weights hash, width and a block layer). Throws InputError
// naming the file and what does not match.
ProbeSource load_probe_for(const Model& model, const std::string& path, const std::string& layer = "");

// The probe of one layer ("embed", "0", "1", ...) of a word-index result file.
LogisticProbe read_word_index_probe(const std::string& path, const std::string& layer);

}  // namespace patchbay
