#include "patchbay/core/provenance.hpp"

#include <ATen/Parallel.h>

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "patchbay/core/version.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {

std::string Fingerprint::hex() const { return fmt::format("{:016x}", hash_); }

namespace {
std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string cached_sha256(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::string> memo;
  std::lock_guard lock(mutex);
  auto it = memo.find(path);
  if (it != memo.end()) return it->second;
  std::string hash;
  try {
    hash = sha256_file(path);
  } catch (const std::exception&) {
    hash = "unavailable";  // random models have no file
  }
  return memo[path] = hash;
}
}  // namespace

nlohmann::json provenance(const Model& model) {
  const auto& c = model.config();
  return {{"library_version", library_version()},
          {"git_commit", git_commit()},
          {"model", c.name},
          {"model_architecture", to_string(c.arch)},
          {"model_dir", model.source().dir},
          {"model_file", model.source().weights_file},
          {"model_sha256", cached_sha256(model.source().weights_file)},
          {"created_utc", utc_now()},
          {"threads", at::get_num_threads()}};
}

}  // namespace patchbay
