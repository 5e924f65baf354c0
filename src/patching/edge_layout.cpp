#include "patchbay/patching/edge_layout.hpp"

// No ATen op headers here: the fuzz build (clang) compiles this file with the graph reader.
#include <fmt/format.h>

namespace patchbay {

std::string Component::name() const {
  switch (kind) {
    case ComponentKind::Input: return "input";
    case ComponentKind::Readout: return "readout";
    case ComponentKind::Mlp: return fmt::format("m{}", layer);
    case ComponentKind::Neuron: return fmt::format("m{}.n{}", layer, neuron);
    case ComponentKind::Head: return side ? fmt::format("a{}.h{}<{}>", layer, head, side) : fmt::format("a{}.h{}", layer, head);
  }
  return "?";
}

std::string head_name(int layer, std::int64_t head) { return Component{ComponentKind::Head, layer, head}.name(); }
std::string mlp_name(int layer) { return Component{ComponentKind::Mlp, layer}.name(); }
std::string neuron_name(int layer, std::int64_t neuron) { return Component{ComponentKind::Neuron, layer, -1, neuron}.name(); }

std::string at_span(std::string_view component, std::string_view span) { return fmt::format("{}@{}", component, span); }

std::pair<std::string_view, std::string_view> split_span(std::string_view name) {
  const auto at = name.rfind('@');
  if (at == std::string_view::npos) return {name, {}};
  return {name.substr(0, at), name.substr(at + 1)};
}

namespace {
// A non-negative decimal number of at most 9 digits at the front of `text`, consumed.
std::optional<std::int64_t> take_number(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && n < 10 && text[n] >= '0' && text[n] <= '9') ++n;
  if (n == 0 || n > 9) return std::nullopt;
  std::int64_t value = 0;
  for (std::size_t i = 0; i < n; ++i) value = value * 10 + (text[i] - '0');
  text.remove_prefix(n);
  return value;
}

// `text` starts with `prefix` then a number: the number, both consumed.
std::optional<std::int64_t> take_numbered(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  return take_number(text);
}

std::optional<Component> parse_mlp(std::string_view text) {
  const auto layer = take_numbered(text, "m");
  if (!layer) return std::nullopt;
  if (text.empty()) return Component{ComponentKind::Mlp, static_cast<int>(*layer)};
  const auto neuron = take_numbered(text, ".n");
  if (!neuron || !text.empty()) return std::nullopt;
  return Component{ComponentKind::Neuron, static_cast<int>(*layer), -1, *neuron};
}

std::optional<Component> parse_head(std::string_view text) {
  const auto layer = take_numbered(text, "a");
  const auto head = layer ? take_numbered(text, ".h") : std::nullopt;
  if (!head) return std::nullopt;
  Component c{ComponentKind::Head, static_cast<int>(*layer), *head};
  if (text.empty()) return c;
  if (text.size() == 3 && text[0] == '<' && text[2] == '>' && (text[1] == 'q' || text[1] == 'k' || text[1] == 'v')) {
    c.side = text[1];
    return c;
  }
  return std::nullopt;
}
}  // namespace

std::optional<Component> parse_component_name(std::string_view text) {
  if (text == "input") return Component{ComponentKind::Input};
  if (text == "readout" || text == "logits") return Component{ComponentKind::Readout};
  if (text.starts_with("m")) return parse_mlp(text);
  if (text.starts_with("a")) return parse_head(text);
  return std::nullopt;
}

bool EdgeLayout::upstream(const EdgeSender& s, const EdgeReceiver& r) {
  return s.layer < r.layer || (s.layer == r.layer && !s.mlp && r.side == ReceiverSide::MlpInput);
}

std::vector<std::string> EdgeLayout::sender_names() const {
  std::vector<std::string> out;
  for (const auto& s : senders) out.push_back(s.name);
  return out;
}

std::vector<std::string> EdgeLayout::receiver_names() const {
  std::vector<std::string> out;
  for (const auto& r : receivers) out.push_back(r.name);
  return out;
}

EdgeLayout edge_layout(std::int64_t n_heads, int readout_layer) {
  EdgeLayout e;
  const auto H = n_heads;
  e.senders.push_back({"input", -1, -1, false});
  for (int l = 0; l <= readout_layer; ++l) {
    for (std::int64_t h = 0; h < H; ++h) e.senders.push_back({head_name(l, h), l, h, false});
    e.senders.push_back({mlp_name(l), l, -1, true});
  }
  constexpr std::pair<ReceiverSide, char> kSides[] = {
      {ReceiverSide::Query, 'q'}, {ReceiverSide::Key, 'k'}, {ReceiverSide::Value, 'v'}};
  for (int l = 0; l <= readout_layer; ++l) {
    for (auto [side, letter] : kSides)
      for (std::int64_t h = 0; h < H; ++h) e.receivers.push_back({fmt::format("{}<{}>", head_name(l, h), letter), l, h, side});
    e.receivers.push_back({mlp_name(l), l, -1, ReceiverSide::MlpInput});
  }
  e.receivers.push_back({"readout", readout_layer + 1, -1, ReceiverSide::Readout});
  return e;
}

}  // namespace patchbay
