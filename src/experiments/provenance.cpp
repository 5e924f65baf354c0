#include "patchbay/experiments/provenance.hpp"

#include <ATen/Parallel.h>

#include <chrono>
#include <ctime>
#include <fstream>

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

std::vector<std::string> command_line() {
  std::vector<std::string> args;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}
}  // namespace

std::string file_sha256(const std::string& path) { return sha256_file(path); }

nlohmann::json provenance(const Model& model, const std::vector<std::string>& input_files) {
  const auto& c = model.config();
  auto inputs = nlohmann::json::array();
  for (const auto& path : input_files) inputs.push_back({{"path", path}, {"sha256", sha256_file(path)}});
  return {{"library_version", library_version()},
          {"git_commit", git_commit()},
          {"model", c.name},
          {"model_architecture", to_string(c.arch)},
          {"model_dir", model.source().dir},
          {"model_file", model.source().weights_file},
          {"model_sha256", weights_sha256(model)},
          {"created_utc", utc_now()},
          {"threads", at::get_num_threads()},
          {"command_line", command_line()},
          {"inputs", inputs}};
}

}  // namespace patchbay
