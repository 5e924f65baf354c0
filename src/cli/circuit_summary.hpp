#pragma once
// The circuit part of a study's summary as discover and patch print it.
#include <nlohmann/json.hpp>

namespace patchbay::cli {

// "circuit (eap): 9 nodes, 20 edges" and, per ablation, its faithfulness at that size and the
// curve's CPR and CMD; the ROC AUCs against a ground truth when there is one. Prints nothing
// without a circuit.
void print_circuit_summary(const nlohmann::json& summary);

}  // namespace patchbay::cli
