// Fuzz target: the circuit-graph reader given well-formed HDF5 whose tables hold arbitrary
// contents (lengths, vertex indices, kinds, attributes) must read it or throw patchbay::Error.
// (Raw bytes as an HDF5 file would fuzz the HDF5 library itself, not patchbay.)
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "patchbay/core/error.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace {
struct Bytes {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t next() { return n ? (--n, *p++) : 0; }
  std::int64_t small() { return static_cast<std::int8_t>(next()); }  // -128..127
  std::string word() {
    std::string s;
    for (int len = next() % 8; len > 0; --len) s += static_cast<char>(next());
    return s;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in{data, size};
  const auto path = "/tmp/patchbay-fuzz-graph-" + std::to_string(::getpid()) + ".h5";
  {
    patchbay::H5Writer out(path, /*overwrite=*/true);
    const int nodes = in.next() % 12, edges = in.next() % 20;
    const char* kinds[] = {"input", "head", "mlp", "readout", "bogus"};
    std::vector<std::string> names, kind, qkv;
    std::vector<std::int64_t> layer, head, kept, source, target, ekept;
    for (int i = 0; i < nodes + (in.next() % 3 == 0); ++i) {
      names.push_back(in.word());
      kind.push_back(kinds[in.next() % 5]);
    }
    for (int i = 0; i < nodes + (in.next() % 3 == 0 ? 1 : 0); ++i) layer.push_back(in.small());
    for (int i = 0; i < nodes; ++i) {
      head.push_back(in.small());
      kept.push_back(in.next() % 2);
    }
    for (int i = 0; i < edges; ++i) {
      source.push_back(in.small());
      target.push_back(in.small());
      qkv.push_back(in.word());
      ekept.push_back(in.next() % 2);
    }
    std::vector<double> scores, escores;
    for (std::size_t i = 0; i < head.size(); ++i) scores.push_back(in.small() / 7.0);
    for (std::size_t i = 0; i < source.size() + (in.next() % 4 == 0); ++i) escores.push_back(in.small() / 3.0);
    const patchbay::DatasetDoc doc{{"row"}, "fuzzed column"};
    out.write_strings("graph/nodes/name", names, doc);
    out.write_strings("graph/nodes/kind", kind, doc);
    out.write_int64s("graph/nodes/layer", layer, doc);
    out.write_int64s("graph/nodes/head", head, doc);
    out.write_int64s("graph/nodes/kept", kept, doc);
    out.write_doubles("graph/nodes/score", scores, doc);
    out.write_int64s("graph/edges/source", source, doc);
    out.write_int64s("graph/edges/target", target, doc);
    out.write_strings("graph/edges/qkv", qkv, doc);
    out.write_doubles("graph/edges/score", escores, doc);
    out.write_int64s("graph/edges/kept", ekept, doc);
    for (const char* key : {"method", "provenance"})
      if (in.next() % 4 != 0) out.write_attribute(key, in.word(), "graph");
    // Numbers as numbers mostly (the reader's success path), sometimes as text (refused).
    for (const char* key : {"seed", "readout_layer", "model_layers", "n_heads", "n_kv_heads", "d_model"}) {
      const auto choice = in.next() % 4;
      if (choice == 0) continue;
      if (choice == 1) out.write_attribute(key, in.word(), "graph");
      else out.write_attribute(key, static_cast<std::int64_t>(in.small()) * (choice == 3 ? 1000003 : 1), "graph");
    }
    out.commit();
  }
  try {
    auto g = patchbay::CircuitGraph::read(patchbay::H5Reader(path));
    g.keep_top_k(3);
    (void)g.to_dot();
    (void)g.to_graphml();
    (void)g.to_eap_json().dump();
  } catch (const patchbay::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
