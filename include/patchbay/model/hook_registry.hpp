#pragma once
// Hook callbacks attached to a model's hook points. Callbacks can read an activation or replace
// it (assign to the reference). Observation is registered up front, so a hook point without a
// callback costs one array lookup in the forward pass.
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/hooks.hpp"

namespace patchbay {

// Called with the activation at a hook point; assign to `activation` to replace it downstream.
// Replace rather than modify in place: other hooks (a cache) may hold the same tensor.
using HookFn = std::function<void(at::Tensor& activation, HookId id)>;

class HookRegistry;

// RAII: the hook is removed when the handle is destroyed (also during stack unwinding), so no
// hook outlives the scope that installed it. Safe to outlive the model.
class [[nodiscard]] HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<HookRegistry> registry, HookId id, std::uint64_t serial)
      : registry_(std::move(registry)), id_(id), serial_(serial) {}
  ~HookHandle() { remove(); }
  HookHandle(HookHandle&& other) noexcept { *this = std::move(other); }
  HookHandle& operator=(HookHandle&& other) noexcept;
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;

  // Removes the hook now; idempotent.
  void remove() noexcept;

 private:
  std::weak_ptr<HookRegistry> registry_;
  HookId id_;
  std::uint64_t serial_ = 0;
};

class HookRegistry : public std::enable_shared_from_this<HookRegistry> {
 public:
  explicit HookRegistry(const ModelConfig& config);

  // Throws InputError when the hook point does not exist in this model.
  HookHandle add(HookId id, HookFn fn);

  bool active(HookId id) const { return counts_[slot(id)] != 0; }
  bool any_active() const { return total_ != 0; }

  // Runs every callback registered at `id`, in registration order, on `activation`.
  void fire(HookId id, at::Tensor& activation) const;

  // Hook points that currently have at least one callback, in forward order.
  std::vector<HookId> active_points() const;

 private:
  friend class HookHandle;
  struct Entry {
    std::uint64_t serial;
    HookFn fn;
  };
  std::size_t slot(HookId id) const;
  void remove(HookId id, std::uint64_t serial) noexcept;

  ModelConfig config_;
  std::vector<std::vector<Entry>> entries_;  // indexed by slot
  std::vector<std::uint32_t> counts_;        // entries_[slot].size(), read on the hot path
  std::size_t total_ = 0;
  std::uint64_t next_serial_ = 1;
};

}  // namespace patchbay
