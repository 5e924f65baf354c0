#include "patchbay/probe/probe_io.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

void write_probe(H5Writer& out, const std::string& group, const LogisticProbe& p) {
  out.write_tensor(group + "/W", p.W);
  out.write_tensor(group + "/b", p.b);
  if (p.mean.defined()) {
    out.write_tensor(group + "/mean", p.mean);
    out.write_tensor(group + "/std", p.std);
  }
  out.write_attribute("converged", p.converged ? "true" : "false", group);
  out.write_attribute("iterations", std::to_string(p.iterations), group);
  out.write_attribute("stop_reason", p.stop_reason, group);
  out.write_attribute("max_abs_grad", fmt::format("{:.17g}", p.max_abs_grad), group);
  out.write_attribute("loss", fmt::format("{:.17g}", p.loss), group);
}

LogisticProbe read_probe(const H5Reader& in, const std::string& group) {
  if (!in.has(group + "/W") || !in.has(group + "/b")) fail<FormatError>("'{}' has no probe at '{}'", in.path(), group);
  LogisticProbe p;
  p.W = in.read_tensor(group + "/W");
  p.b = in.read_tensor(group + "/b");
  if (p.W.dim() != 2 || p.b.dim() != 1 || p.b.size(0) != p.W.size(1) || p.W.scalar_type() != at::kFloat)
    fail<FormatError>("'{}': probe '{}' has inconsistent shapes (W {}-d, b {}-d)", in.path(), group, p.W.dim(), p.b.dim());
  if (in.has(group + "/mean")) {
    p.mean = in.read_tensor(group + "/mean");
    p.std = in.read_tensor(group + "/std");
    if (p.mean.numel() != p.W.size(0) || p.std.numel() != p.W.size(0))
      fail<FormatError>("'{}': probe '{}' standardisation does not match its width {}", in.path(), group, p.W.size(0));
  }
  auto number = [&](const char* key) {
    try {
      return std::stod(in.attribute(key, group).value_or("0"));
    } catch (const std::exception&) {
      fail<FormatError>("'{}': probe attribute '{}' is not a number", in.path(), key);
    }
  };
  p.converged = in.attribute("converged", group) == std::optional<std::string>("true");
  p.iterations = static_cast<int>(number("iterations"));
  p.stop_reason = in.attribute("stop_reason", group).value_or("");
  p.max_abs_grad = number("max_abs_grad");
  p.loss = number("loss");
  return p;
}

}  // namespace patchbay
