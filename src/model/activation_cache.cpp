#include "patchbay/model/activation_cache.hpp"

#include <algorithm>

#include "patchbay/core/error.hpp"

namespace patchbay {

namespace filters {
HookFilter all() {
  return [](HookId id) { return !is_optional_site(id.site); };
}
HookFilter only(std::vector<HookId> ids) {
  std::sort(ids.begin(), ids.end());
  return [ids = std::move(ids)](HookId id) { return std::binary_search(ids.begin(), ids.end(), id); };
}
HookFilter sites(std::vector<Site> wanted) {
  return [wanted = std::move(wanted)](HookId id) {
    return std::find(wanted.begin(), wanted.end(), id.site) != wanted.end();
  };
}
}  // namespace filters

const at::Tensor& ActivationCache::at(HookId id) const {
  auto it = entries_.find(id);
  if (it != entries_.end()) return it->second;
  std::string held;
  for (const auto& [key, value] : entries_) held += (held.empty() ? "" : ", ") + to_string(key);
  fail<InputError>("activation cache has no {}; it holds: {}", to_string(id), held.empty() ? "nothing" : held);
}

}  // namespace patchbay
