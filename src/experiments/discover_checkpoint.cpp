#include "patchbay/experiments/discover_checkpoint.hpp"

#include <filesystem>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/io/atomic_file.hpp"

namespace patchbay {
namespace fs = std::filesystem;

DiscoverCheckpoint::DiscoverCheckpoint(std::string dir, const std::string& probe_file, const nlohmann::json& options)
    : dir_(std::move(dir)) {
  const nlohmann::json manifest{{"probe", probe_file}, {"probe_sha256", file_sha256(probe_file)}, {"options", options}};
  const auto manifest_path = (fs::path(dir_) / "manifest.json").string();
  if (!fs::exists(manifest_path)) {
    fs::create_directories(dir_);
    write_file_atomic(manifest_path, manifest.dump(2));
    return;
  }
  nlohmann::json before;
  try {
    before = nlohmann::json::parse(read_text_file(manifest_path));
  } catch (const nlohmann::json::exception&) {
    fail<FormatError>("checkpoint manifest '{}' is not valid JSON; delete the checkpoint '{}'", manifest_path, dir_);
  }
  if (before.value("probe_sha256", "") != manifest["probe_sha256"])
    fail<InputError>("probe file '{}' changed since the checkpoint '{}' was made (sha256 {} then, {} now); its results "
                     "belong to the old probe: restore that probe or delete the checkpoint",
                     probe_file, dir_, before.value("probe_sha256", std::string("missing")).substr(0, 12),
                     manifest["probe_sha256"].get<std::string>().substr(0, 12));
  if (before.value("options", nlohmann::json()) != options)
    fail<InputError>("the checkpoint '{}' was made with other options ({}), not {}; delete it to start again", dir_,
                     before.value("options", nlohmann::json()).dump(), options.dump());
}

std::string DiscoverCheckpoint::file(const std::string& stage) const { return (fs::path(dir_) / (stage + ".h5")).string(); }

std::optional<PatchResult> DiscoverCheckpoint::patch_result(const PatchSweep& sweep, PatchDirection direction) const {
  const auto path = file("patching_" + sweep.short_name() + "_" + to_string(direction));
  if (!fs::exists(path)) return std::nullopt;
  H5Reader in(path);
  PatchResult r{sweep, direction, in.axes("metric"), in.read_tensor("metric"), in.read_tensor("clean"), in.read_tensor("corrupted")};
  return r;
}

void DiscoverCheckpoint::save(const PatchResult& r) const {
  H5Writer out(file("patching_" + r.sweep.short_name() + "_" + to_string(r.direction)), /*overwrite=*/false);
  out.write_tensor("metric", r.metric, {r.axes, "metric of each patched run: " + r.sweep.describe()});
  out.write_tensor("clean", r.clean, {{"pair"}, "unpatched clean metric"});
  out.write_tensor("corrupted", r.corrupted, {{"pair"}, "unpatched corrupted metric"});
  out.commit();
}

std::optional<EdgeScores> DiscoverCheckpoint::edges() const {
  const auto path = file("edges");
  if (!fs::exists(path)) return std::nullopt;
  H5Reader in(path);
  EdgeScores e;
  e.senders = in.read_strings("senders");
  e.receivers = in.read_strings("receivers");
  e.scores = in.read_tensor("scores");
  e.valid = in.read_tensor("valid").to(at::kBool);
  e.method = in.attribute("method").value_or("");
  e.readout_layer = static_cast<int>(in.numeric_attribute("readout_layer").value_or(-1));
  const auto S = static_cast<std::int64_t>(e.senders.size()), R = static_cast<std::int64_t>(e.receivers.size());
  if (e.scores.sizes() != at::IntArrayRef({S, R}) || e.valid.sizes() != e.scores.sizes() || e.readout_layer < 0)
    fail<FormatError>("checkpoint '{}' holds inconsistent edge scores; delete the checkpoint '{}'", path, dir_);
  return e;
}

void DiscoverCheckpoint::save(const EdgeScores& e) const {
  H5Writer out(file("edges"), /*overwrite=*/false);
  out.write_tensor("scores", e.scores, {{"sender", "receiver"}, "edge scores"});
  out.write_tensor("valid", e.valid.to(at::kLong), {{"sender", "receiver"}, "1 where the sender is upstream of the receiver"});
  out.write_strings("senders", e.senders, {{"sender"}, "labels of the sender axis"});
  out.write_strings("receivers", e.receivers, {{"receiver"}, "labels of the receiver axis"});
  out.write_attribute("method", e.method);
  out.write_attribute("readout_layer", e.readout_layer);
  out.commit();
}

}  // namespace patchbay
