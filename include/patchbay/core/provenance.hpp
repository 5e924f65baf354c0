#pragma once
// What every result file records so a result can be traced back to what produced it.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace patchbay {

class Model;

// {library_version, git_commit, model, model_architecture, model_file, model_sha256, created_utc,
//  threads}. Hashing the weights file is memoised per path.
nlohmann::json provenance(const Model& model);

// 64-bit FNV-1a, for fingerprints of datasets (not for security).
class Fingerprint {
 public:
  template <typename T>
  void add(const T* data, std::size_t count) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < count * sizeof(T); ++i) hash_ = (hash_ ^ bytes[i]) * 0x100000001B3ull;
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  std::string hex() const;

 private:
  std::uint64_t hash_ = 0xCBF29CE484222325ull;
};

}  // namespace patchbay
