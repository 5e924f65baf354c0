// EdgeLayout::valid, the one part of the layout that needs ATen's ops.
#include <ATen/ATen.h>

#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {

at::Tensor EdgeLayout::valid() const {
  const auto S = static_cast<std::int64_t>(senders.size()), R = static_cast<std::int64_t>(receivers.size());
  auto out = at::zeros({S, R}, at::kBool);
  auto* data = out.data_ptr<bool>();
  for (std::int64_t s = 0; s < S; ++s)
    for (std::int64_t r = 0; r < R; ++r) data[s * R + r] = upstream(senders[static_cast<std::size_t>(s)], receivers[static_cast<std::size_t>(r)]);
  return out;
}

}  // namespace patchbay
