#pragma once
// The senders and receivers of a circuit graph up to a read-out layer, in the EAP-IG naming and
// order, and the rule for which sender can reach which receiver. Edge attribution and path
// patching both enumerate edges through this one layout.
#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/config.hpp"

namespace patchbay {

// The components of a model that analyses name, one type and one name table for all of them
// (attribution, patching summaries, ablation, the circuit graph and its exports):
//   "input"                 the embeddings (plus learned positions)
//   "a{layer}.h{head}"      an attention head; as an edge's receiver "a3.h5<q>", "<k>", "<v>"
//   "m{layer}"              an MLP
//   "m{layer}.n{neuron}"    one MLP neuron (hook_post column)
//   "readout"               the metric's read-out ("logits" is read as the same: EAP-IG's name)
enum class ComponentKind { Input, Head, Mlp, Neuron, Readout };

struct Component {
  ComponentKind kind = ComponentKind::Input;
  int layer = -1;            // -1 for the input and the read-out
  std::int64_t head = -1;    // -1 unless a head
  std::int64_t neuron = -1;  // -1 unless a neuron
  char side = 0;             // 'q', 'k', 'v' for a head's input, else 0
  std::string name() const;  // the one formatter
};
std::string head_name(int layer, std::int64_t head);         // "a3.h5"
std::string mlp_name(int layer);                             // "m2"
std::string neuron_name(int layer, std::int64_t neuron);     // "m2.n17"

// The one parser of those names: digits only, within int range, nothing trailing. nullopt when
// `text` is not a component name (callers say what they expected).
std::optional<Component> parse_component_name(std::string_view text);

// Position-aware names: a component at a span is its name, '@' and the span's name
// ("a1.h6@w2", a receiver "a1.h6<k>@w3", an edge "m0@w1->a1.h6<k>@w3").
std::string at_span(std::string_view component, std::string_view span);
// ("a1.h6<k>", "w3") from "a1.h6<k>@w3"; the span is empty for a whole-component name.
std::pair<std::string_view, std::string_view> split_span(std::string_view name);

// Which input of a receiver an edge enters.
enum class ReceiverSide { Query, Key, Value, MlpInput, Readout };
// Keys and values carry a sender's output from an earlier position to the head's later queries.
inline bool reads_other_positions(ReceiverSide side) { return side == ReceiverSide::Key || side == ReceiverSide::Value; }

struct EdgeSender {
  std::string name;        // "input", "a3.h5", "m2"
  int layer = -1;          // -1 for the input (embeddings, plus positions)
  std::int64_t head = -1;  // -1 for the input and MLPs
  bool mlp = false;
};

struct EdgeReceiver {
  std::string name;        // "a3.h5<q>", "m2", "readout"
  int layer = 0;           // readout_layer + 1 for the read-out
  std::int64_t head = -1;  // query head for q/k/v sides (keys and values per query head, as EAP-IG)
  ReceiverSide side = ReceiverSide::Readout;
};

struct EdgeLayout {
  std::vector<EdgeSender> senders;      // input, then per layer heads 0..H-1 and the MLP
  std::vector<EdgeReceiver> receivers;  // per layer q of heads 0..H-1, k, v, the MLP; then the read-out

  // A sender reaches a receiver in a later layer, and an attention head reaches its own layer's MLP.
  static bool upstream(const EdgeSender& s, const EdgeReceiver& r);
  at::Tensor valid() const;  // [sender, receiver] bool
  std::vector<std::string> sender_names() const;
  std::vector<std::string> receiver_names() const;
};

EdgeLayout edge_layout(std::int64_t n_heads, int readout_layer);
inline EdgeLayout edge_layout(const ModelConfig& config, int readout_layer) { return edge_layout(config.n_heads, readout_layer); }

}  // namespace patchbay
