#include "patchbay/model/hook_registry.hpp"

#include <algorithm>

#include "patchbay/core/error.hpp"

namespace patchbay {

HookHandle& HookHandle::operator=(HookHandle&& other) noexcept {
  if (this != &other) {
    remove();
    registry_ = std::move(other.registry_);
    id_ = other.id_;
    serial_ = std::exchange(other.serial_, 0);
  }
  return *this;
}

void HookHandle::remove() noexcept {
  if (serial_ == 0) return;
  if (auto registry = registry_.lock()) registry->remove(id_, serial_);
  serial_ = 0;
  registry_.reset();
}

HookRegistry::HookRegistry(const ModelConfig& config) : config_(config) {
  std::size_t slots = static_cast<std::size_t>(config.n_layers + 2) * kNumSites;
  entries_.resize(slots);
  counts_.assign(slots, 0);
}

std::size_t HookRegistry::slot(HookId id) const { return static_cast<std::size_t>(forward_order(id, config_)); }

HookHandle HookRegistry::add(HookId id, HookFn fn) {
  // Validate through the name table so the error lists what exists.
  if (is_block_site(id.site) != (id.layer >= 0) || id.layer >= config_.n_layers || !site_exists(id.site, config_))
    fail<InputError>("hook point {} (layer {}) does not exist in this model; valid hooks: {}", to_string(id), id.layer,
                     describe_hook_points(config_));
  if (!fn) fail<InputError>("hook callback for {} is empty", to_string(id));
  std::uint64_t serial = next_serial_++;
  std::size_t s = slot(id);
  entries_[s].push_back({serial, std::move(fn)});
  counts_[s] = static_cast<std::uint32_t>(entries_[s].size());
  ++total_;
  return HookHandle(weak_from_this(), id, serial);
}

void HookRegistry::remove(HookId id, std::uint64_t serial) noexcept {
  std::size_t s = slot(id);
  auto& list = entries_[s];
  auto it = std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.serial == serial; });
  if (it == list.end()) return;
  list.erase(it);
  counts_[s] = static_cast<std::uint32_t>(list.size());
  --total_;
}

void HookRegistry::fire(HookId id, at::Tensor& activation) const {
  for (const auto& entry : entries_[slot(id)]) entry.fn(activation, id);
}

std::vector<HookId> HookRegistry::active_points() const {
  std::vector<HookId> out;
  for (HookId id : all_hook_points(config_))
    if (active(id)) out.push_back(id);
  return out;
}

}  // namespace patchbay
