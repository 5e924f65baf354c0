#pragma once
// Activations recorded by a forward pass, keyed by hook id. Holds only what its filter asked
// for and no pointer back to the model.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/hooks.hpp"

namespace patchbay {

// Selects which hook points a run records.
using HookFilter = std::function<bool(HookId)>;

namespace filters {
HookFilter all();
HookFilter only(std::vector<HookId> ids);
HookFilter sites(std::vector<Site> sites);  // these sites at every layer
}  // namespace filters

class ActivationCache {
 public:
  void put(HookId id, at::Tensor activation) { entries_[id] = std::move(activation); }
  bool contains(HookId id) const { return entries_.count(id) != 0; }
  // Throws InputError listing what the cache holds when `id` was not recorded.
  const at::Tensor& at(HookId id) const;
  const std::map<HookId, at::Tensor>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

 private:
  std::map<HookId, at::Tensor> entries_;  // HookId orders by (site, layer); use ids() for forward order
};

}  // namespace patchbay
