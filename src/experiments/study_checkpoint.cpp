#include "patchbay/experiments/study_checkpoint.hpp"

#include <filesystem>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/io/atomic_file.hpp"

namespace patchbay {
namespace fs = std::filesystem;

namespace {

// [{"path", "sha256"}] of each input file, in the order given.
nlohmann::json input_hashes(const std::vector<std::string>& files) {
  auto out = nlohmann::json::array();
  for (const auto& f : files) out.push_back({{"path", f}, {"sha256", file_sha256(f)}});
  return out;
}

// The first input whose contents differ from the manifest's, as a message; empty when none.
std::string changed_input(const nlohmann::json& before, const nlohmann::json& now, const std::string& dir) {
  if (!before.is_array() || before.size() != now.size()) return fmt::format("the checkpoint '{}' was made from other input files", dir);
  for (std::size_t i = 0; i < now.size(); ++i) {
    const auto then = before[i].is_object() ? before[i].value("sha256", std::string("missing")) : std::string("missing");
    if (then != now[i]["sha256"])
      return fmt::format("input file '{}' changed since the checkpoint '{}' was made (sha256 {} then, {} now)", now[i]["path"].get<std::string>(),
                         dir, then.substr(0, 12), now[i]["sha256"].get<std::string>().substr(0, 12));
  }
  return {};
}

// Throws FormatError naming the checkpoint file unless every value of `t` is finite.
void require_finite(const at::Tensor& t, const std::string& what, const std::string& path, const std::string& dir) {
  if (!at::isfinite(t).all().item<bool>())
    fail<FormatError>("checkpoint '{}' holds non-finite {} (NaN or infinity); delete the checkpoint '{}' to start again", path, what, dir);
}

}  // namespace

StudyCheckpoint::StudyCheckpoint(std::string dir, const std::vector<std::string>& input_files, const nlohmann::json& options)
    : dir_(std::move(dir)) {
  const nlohmann::json manifest{{"inputs", input_hashes(input_files)}, {"options", options}};
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
  if (!before.is_object()) fail<FormatError>("checkpoint manifest '{}' is not a JSON object; delete the checkpoint '{}'", manifest_path, dir_);
  if (const auto changed = changed_input(before.value("inputs", nlohmann::json()), manifest["inputs"], dir_); !changed.empty())
    fail<InputError>("{}; its results belong to the old contents: restore them or delete the checkpoint", changed);
  if (before.value("options", nlohmann::json()) != options)
    fail<InputError>("the checkpoint '{}' was made with other options ({}), not {}; delete it to start again", dir_,
                     before.value("options", nlohmann::json()).dump(), options.dump());
}

std::string StudyCheckpoint::file(const std::string& stage) const { return (fs::path(dir_) / (stage + ".h5")).string(); }

std::string StudyCheckpoint::patch_file(const PatchSweep& sweep, PatchDirection direction) const {
  return file("patching_" + sweep.short_name() + "_" + to_string(direction));
}

std::optional<PatchResult> StudyCheckpoint::patch_result(const PatchSweep& sweep, PatchDirection direction, std::int64_t pairs) const {
  const auto path = patch_file(sweep, direction);
  if (!fs::exists(path)) return std::nullopt;
  H5Reader in(path);
  PatchResult r{sweep, direction, in.axes("metric"), in.read_tensor("metric"), in.read_tensor("clean"), in.read_tensor("corrupted")};
  const auto dims = 2 + (sweep.per_head ? 1 : 0) + (sweep.per_position ? 1 : 0);  // [pair, layer, (head), (position)]
  const bool consistent = r.metric.dim() == dims && static_cast<std::int64_t>(r.axes.size()) == dims &&
                          r.metric.size(0) == pairs && r.clean.sizes() == at::IntArrayRef({pairs}) && r.corrupted.sizes() == r.clean.sizes();
  if (!consistent)
    fail<FormatError>("checkpoint '{}' holds a {} sweep that does not fit this run's {} pairs (metric {}, clean {}); delete the checkpoint '{}'",
                      path, sweep.short_name(), pairs, shape_str(r.metric.sizes()), shape_str(r.clean.sizes()), dir_);
  for (const auto& [t, what] : {std::pair{r.metric, "metrics"}, {r.clean, "clean metrics"}, {r.corrupted, "corrupted metrics"}})
    require_finite(t, what, path, dir_);
  return r;
}

void StudyCheckpoint::save(const PatchResult& r) const {
  H5Writer out(patch_file(r.sweep, r.direction), /*overwrite=*/false);
  out.write_tensor("metric", r.metric, {r.axes, "metric of each patched run: " + r.sweep.describe()});
  out.write_tensor("clean", r.clean, {{"pair"}, "unpatched clean metric"});
  out.write_tensor("corrupted", r.corrupted, {{"pair"}, "unpatched corrupted metric"});
  out.commit();
}

std::optional<EdgeScores> StudyCheckpoint::edges() const {
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
  require_finite(e.scores, "edge scores", path, dir_);
  return e;
}

void StudyCheckpoint::save(const EdgeScores& e) const {
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
