#pragma once
// A small deterministic generator (xoshiro256**, seeded through splitmix64). Its output and
// the helpers below are fixed by this code, not by the standard library, so a seed gives
// bit-identical datasets on every platform and compiler.
#include <cstdint>
#include <vector>

namespace patchbay {

class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, n) without modulo bias; n > 0.
  std::uint64_t below(std::uint64_t n);
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  // An independent stream derived from this seed and a label (e.g. "train", "val").
  Rng fork(std::uint64_t label) const;

 private:
  std::uint64_t s_[4];
  std::uint64_t seed_;
};

}  // namespace patchbay
