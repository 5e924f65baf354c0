#pragma once
// The completed expensive stages of a counting-circuit run (each patching sweep, the edge
// scores), kept in a directory beside its result so an interrupted `discover` continues where
// it stopped with identical results. The directory's manifest records the SHA-256 of the probe
// file and the run's options; a checkpoint is only ever resumed with the same probe contents
// and options, so a retrained or edited probe cannot be mixed with results of the old one.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/patch.hpp"

namespace patchbay {

class DiscoverCheckpoint {
 public:
  // Creates `dir` with its manifest, or opens an existing one. Throws InputError when an
  // existing manifest names another probe file content (SHA-256) or other options.
  DiscoverCheckpoint(std::string dir, const std::string& probe_file, const nlohmann::json& options);

  std::optional<PatchResult> patch_result(const PatchSweep& sweep, PatchDirection direction) const;
  void save(const PatchResult& result) const;
  std::optional<EdgeScores> edges() const;
  void save(const EdgeScores& edges) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string file(const std::string& stage) const;
  std::string dir_;
};

}  // namespace patchbay
