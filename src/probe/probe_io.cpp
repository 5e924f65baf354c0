#include "patchbay/probe/probe_io.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

void write_probe(H5Writer& out, const std::string& group, const LogisticProbe& p) {
  out.write_tensor(group + "/W", p.W, {{"feature", "class"}, "weights: logits = features @ W + b (features standardised when mean/std are present)"});
  out.write_tensor(group + "/b", p.b, {{"class"}, "intercepts"});
  if (p.mean.defined()) {
    out.write_tensor(group + "/mean", p.mean, {{"feature"}, "feature means subtracted before W"});
    out.write_tensor(group + "/std", p.std, {{"feature"}, "feature scales divided out before W"});
  }
  out.write_attribute("converged", p.converged, group);
  out.write_attribute("iterations", static_cast<std::int64_t>(p.iterations), group);
  out.write_attribute("stop_reason", p.stop_reason, group);
  out.write_attribute("max_abs_grad", p.max_abs_grad, group);
  out.write_attribute("loss", p.loss, group);
}

LogisticProbe read_probe(const H5Reader& in, const std::string& group) {
  if (!in.has(group + "/W") || !in.has(group + "/b")) fail<FormatError>("'{}' has no probe at '{}'", in.path(), group);
  LogisticProbe p;
  p.W = in.read_tensor(group + "/W");
  p.b = in.read_tensor(group + "/b");
  const bool shapes_agree = p.W.dim() == 2 && p.b.dim() == 1 && p.b.size(0) == p.W.size(1);
  if (!shapes_agree || p.W.scalar_type() != at::kFloat || p.b.scalar_type() != at::kFloat)
    fail<FormatError>("'{}': probe '{}' has W {} {} and b {} {}; expected float32 W [features, classes] and b [classes]", in.path(),
                      group, shape_str(p.W.sizes()), c10::toString(p.W.scalar_type()), shape_str(p.b.sizes()),
                      c10::toString(p.b.scalar_type()));
  if (in.has(group + "/mean")) {
    p.mean = in.read_tensor(group + "/mean");
    p.std = in.read_tensor(group + "/std");
    if (p.mean.numel() != p.W.size(0) || p.std.numel() != p.W.size(0))
      fail<FormatError>("'{}': probe '{}' standardisation does not match its width {}", in.path(), group, p.W.size(0));
  }
  // A probe with NaN or Inf (or weights so large their logits overflow float32) gives no metric:
  // refused here, not after an hour of patching.
  for (const auto& [name, t] : {std::pair{"W", p.W}, {"b", p.b}, {"mean", p.mean}, {"std", p.std}}) {
    if (!t.defined()) continue;
    const auto t64 = t.to(at::kDouble);
    if (t64.numel() > 0 && (!at::isfinite(t64).all().item<bool>() || t64.abs().max().item<double>() > 1e15))
      fail<FormatError>("'{}': probe '{}' has {} with non-finite or huge values (|x| > 1e15); expected the finite weights a "
                        "trained probe has", in.path(), group, name);
  }
  auto number = [&](const char* key) {
    auto value = in.numeric_attribute(key, group);
    if (!value) fail<FormatError>("'{}': probe '{}' has no attribute '{}'", in.path(), group, key);
    return *value;
  };
  p.converged = number("converged") != 0;
  p.iterations = static_cast<int>(number("iterations"));
  p.stop_reason = in.attribute("stop_reason", group).value_or("");
  p.max_abs_grad = number("max_abs_grad");
  p.loss = number("loss");
  return p;
}

}  // namespace patchbay
