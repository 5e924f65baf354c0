#include <map>
#include <mutex>

#include "patchbay/io/mapped_file.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {

std::string weights_sha256(const Model& model) {
  // Hashing GPT-2's 500 MB takes a second; every result file and probe check asks again.
  static std::mutex mutex;
  static std::map<std::string, std::string> memo;
  const std::string& path = model.source().weights_file;
  std::lock_guard lock(mutex);
  auto it = memo.find(path);
  if (it != memo.end()) return it->second;
  std::string hash;
  try {
    hash = sha256_file(path);
  } catch (const std::exception&) {
    hash = "unavailable";  // models built in memory have no file
  }
  return memo[path] = hash;
}

}  // namespace patchbay
