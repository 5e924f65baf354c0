#pragma once
// Figures of circuit discovery as standalone SVG: diverging heatmaps, attention patterns with
// their tokens, and the circuit graph laid out by layer.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/graph/circuit_graph.hpp"

namespace patchbay {

// values: [rows, cols]; colour scale diverging and centred on zero (blue positive, red negative).
std::string heatmap_svg(const at::Tensor& values, const std::vector<std::string>& row_labels,
                        const std::vector<std::string>& col_labels, const std::string& title, const std::string& row_axis,
                        const std::string& col_axis);

// pattern: [q, k] attention probabilities; tokens label both axes.
std::string attention_svg(const at::Tensor& pattern, const std::vector<std::string>& tokens, const std::string& title);

// The kept part of the graph: embeddings at the bottom, read-out at the top, edge width by
// |score|, colour by sign, node scores on hover. Built-in layered layout (no GraphViz needed).
std::string graph_svg(const CircuitGraph& graph, const std::string& title);

// Renders DOT text to SVG with GraphViz `dot` when it is installed; returns false otherwise.
bool render_dot(const std::string& dot, const std::string& svg_path);

// Colour for a value in [-1, 1] on a blue-white-red scale.
std::string diverging_colour(double v);

}  // namespace patchbay
