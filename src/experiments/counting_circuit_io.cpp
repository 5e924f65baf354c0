// Counting-circuit results in HDF5: the one writer and the one reader of the kind (the report
// draws from read_counting_circuit). docs/FORMAT.md documents every name:
//   /                       attributes: kind, provenance, config, summary, model, seed
//   the patching study's groups (write_patching_study): /pairs/, metric attributes, /patching/,
//   /attribution/, /ablation/, /edges/, /graph/ (patching/patch_io.hpp, CircuitGraph)
//   /pairs/labels           the probe classes of the metric
//   /direct/, /heads/, /examples/, /direction_ablation/   analysis/analysis_io.hpp
#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/analysis/analysis_io.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/result_file.hpp"
#include "patchbay/io/atomic_file.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/patch_io.hpp"
#include "patchbay/report/figures.hpp"
#include "patchbay/report/report.hpp"

namespace patchbay {
namespace {

constexpr const char* kKind = "counting_circuit";

void write_labels(H5Writer& out, const CountingCircuitResults& r) {
  out.write_tensor("pairs/labels", at::tensor(std::vector<std::int64_t>{r.to, r.from}, at::kLong),
                   {{"class"}, "probe classes of the metric: (clean word index, corrupted word index)"});
}

void read_labels(const H5Reader& in, CountingCircuitResults& r) {
  const auto labels = in.read_int64s("pairs/labels");
  if (labels.size() != 2) fail<FormatError>("'{}': pairs/labels holds {} classes, expected 2", in.path(), labels.size());
  std::tie(r.to, r.from) = std::pair{labels[0], labels[1]};
  for (auto& p : r.pairs) {
    p.clean_label = static_cast<std::int32_t>(r.to);
    p.corrupted_label = static_cast<std::int32_t>(r.from);
  }
}

// The graph's companion files: GraphViz source, and GraphViz's own layout when `dot` is
// installed (the report uses the built-in one).
std::vector<std::string> write_graph_files(const std::string& path, const CircuitGraph& graph) {
  std::vector<std::string> written{companion_path(path, "_graph.dot")};
  write_file_atomic(written.back(), graph.to_dot());
  if (render_dot(graph.to_dot(), companion_path(path, "_graph_dot.svg"))) written.push_back(companion_path(path, "_graph_dot.svg"));
  return written;
}

}  // namespace

std::vector<std::string> write_counting_circuit(const std::string& path, bool overwrite, const Model& model,
                                                const ProbeSource& probe, const CountingCircuitOptions& o,
                                                const CountingCircuitResults& r) {
  H5Writer out(path, overwrite);
  write_result_header(out, model, {kKind, provenance(model, {probe.path}), counting_circuit_config(o, probe), r.summary()});
  out.write_attribute("seed", o.pairs.seed);
  write_patching_study(out, r);
  write_labels(out, r);
  write_direct_attribution(out, "clean", r.direct_clean);
  write_direct_attribution(out, "corrupted", r.direct_corrupted);
  write_head_scores(out, r.head_scores);
  write_direction_ablation(out, r.direction_ablation);
  write_attention_examples(out, r.attention_examples);
  auto written = commit_with_report(out, path);
  for (auto& f : write_graph_files(path, r.graph)) written.push_back(std::move(f));
  return written;
}

CountingCircuitFile read_counting_circuit(const H5Reader& in) {
  if (in.attribute("kind") != std::optional<std::string>(kKind))
    fail<FormatError>("'{}' is not a counting-circuit result file (kind {})", in.path(), in.attribute("kind").value_or("missing"));
  CountingCircuitFile f;
  f.path = in.path();
  f.model = in.attribute("model").value_or("");
  f.summary = read_json_attribute(in, "summary");
  f.config = read_json_attribute(in, "config");
  f.provenance = read_json_attribute(in, "provenance");
  auto& r = f.results;
  static_cast<PatchingStudyResults&>(r) = read_patching_study(in);
  read_labels(in, r);
  if (auto d = read_direct_attribution(in, "clean")) r.direct_clean = std::move(*d);
  if (auto d = read_direct_attribution(in, "corrupted")) r.direct_corrupted = std::move(*d);
  if (auto s = read_head_scores(in)) r.head_scores = std::move(*s);
  if (auto d = read_direction_ablation(in)) r.direction_ablation = std::move(*d);
  r.attention_examples = read_attention_examples(in);
  return f;
}

}  // namespace patchbay
