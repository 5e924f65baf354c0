#pragma once
// The completed expensive stages of a patching study (each patching sweep, the edge scores),
// kept in a directory beside its result so an interrupted `discover` or `patch` continues
// where it stopped with identical results. The directory's manifest records the SHA-256 of
// every input file (the probe, the pairs) and the run's options; a checkpoint is only ever
// resumed with the same input contents and options, so a retrained probe or edited pairs
// cannot be mixed with results of the old ones. Stages read back are validated (shapes that
// agree with each other and with the run's pairs, finite values).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/patch.hpp"

namespace patchbay {

class StudyCheckpoint {
 public:
  // Creates `dir` with its manifest, or opens an existing one. Throws InputError when an
  // existing manifest names other input contents (SHA-256) or other options.
  StudyCheckpoint(std::string dir, const std::vector<std::string>& input_files, const nlohmann::json& options);

  // A completed sweep of `pairs` pairs; FormatError when the stored one is damaged.
  std::optional<PatchResult> patch_result(const PatchSweep& sweep, PatchDirection direction, std::int64_t pairs) const;
  void save(const PatchResult& result) const;
  std::optional<EdgeScores> edges() const;
  void save(const EdgeScores& edges) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string file(const std::string& stage) const;
  std::string patch_file(const PatchSweep& sweep, PatchDirection direction) const;
  std::string dir_;
};

}  // namespace patchbay
