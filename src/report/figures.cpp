#include "patchbay/report/figures.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/subprocess.hpp"
#include "patchbay/core/temp_files.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/io/atomic_file.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay {

std::string diverging_colour(double v) {
  v = std::clamp(std::isnan(v) ? 0.0 : v, -1.0, 1.0);
  // white at 0, #2166ac at +1, #b2182b at -1
  auto mix = [](int from, int to, double t) { return static_cast<int>(std::lround(from + (to - from) * t)); };
  const double t = std::abs(v);
  if (v >= 0) return fmt::format("#{:02x}{:02x}{:02x}", mix(255, 0x21, t), mix(255, 0x66, t), mix(255, 0xac, t));
  return fmt::format("#{:02x}{:02x}{:02x}", mix(255, 0xb2, t), mix(255, 0x18, t), mix(255, 0x2b, t));
}

std::string heatmap_svg(const at::Tensor& values_in, const std::vector<std::string>& rows,
                        const std::vector<std::string>& cols, const std::string& title, const std::string& row_axis,
                        const std::string& col_axis) {
  if (values_in.dim() != 2 || values_in.size(0) != static_cast<std::int64_t>(rows.size()) ||
      values_in.size(1) != static_cast<std::int64_t>(cols.size()))
    fail<InputError>("heatmap '{}': values of shape {} do not match {} row and {} column labels", title, values_in.sizes(), rows.size(), cols.size());
  auto values = values_in.to(at::kCPU, at::kDouble).contiguous();
  const auto R = values.size(0), C = values.size(1);
  auto short_label = [](const std::string& text) { return text.size() > 16 ? text.substr(0, 15) + "~" : text; };
  // Cells are at least 16 px tall so row labels stay readable however many columns there are;
  // column labels turn vertical when they do not fit their column.
  const double cell_w = std::clamp(640.0 / static_cast<double>(std::max<std::int64_t>(C, 1)), 8.0, 36.0);
  const double cell_h = std::max(cell_w, 16.0);
  double row_label_w = 0, col_label_w = 0;
  for (const auto& r : rows) row_label_w = std::max(row_label_w, svg::text_width(short_label(r), 10));
  for (const auto& col : cols) col_label_w = std::max(col_label_w, svg::text_width(short_label(col), 9));
  const bool vertical = col_label_w > cell_w - 2;
  const double left = 36 + row_label_w, top = 50, plot_h = static_cast<double>(R) * cell_h;
  const double bar_h = std::max(plot_h, 120.0), bottom = (vertical ? col_label_w + 10 : 16) + 30;
  double scale = values.numel() ? values.nan_to_num(0, 0, 0).abs().max().item<double>() : 0;  // NaN cells draw white
  if (!(scale > 0)) scale = 1;
  svg::Canvas c(std::max(left + static_cast<double>(C) * cell_w + 110, 20 + svg::text_width(title, 14, true)),
                top + std::max(plot_h + bottom, bar_h + 20));
  c.text(10, 22, title, 14, "start", 0, "bold");
  auto a = values.accessor<double, 2>();
  for (std::int64_t i = 0; i < R; ++i) {
    c.text(left - 6, top + static_cast<double>(i) * cell_h + cell_h / 2 + 4, short_label(rows[static_cast<std::size_t>(i)]), 10, "end");
    for (std::int64_t j = 0; j < C; ++j)
      c.rect(left + static_cast<double>(j) * cell_w, top + static_cast<double>(i) * cell_h, cell_w, cell_h,
             {.fill = diverging_colour(a[i][j] / scale), .stroke = "#ffffff", .stroke_width = 0.5, .css_class = "mark"},
             fmt::format("{} {}, {} {}: {:.4g}", row_axis, rows[static_cast<std::size_t>(i)], col_axis, cols[static_cast<std::size_t>(j)], a[i][j]));
  }
  for (std::int64_t j = 0; j < C; ++j) {
    const double x = left + static_cast<double>(j) * cell_w + cell_w / 2;
    if (vertical) c.text(x + 3, top + plot_h + 6, short_label(cols[static_cast<std::size_t>(j)]), 9, "end", -90);
    else c.text(x, top + plot_h + 12, short_label(cols[static_cast<std::size_t>(j)]), 9, "middle");
  }
  c.text(left + static_cast<double>(C) * cell_w / 2, top + plot_h + bottom - 8, col_axis, 12, "middle");
  c.text(14, top + plot_h / 2, row_axis, 12, "middle", -90);
  // Colour bar: +scale at the top, 0 in the middle, -scale at the bottom.
  const double bx = left + static_cast<double>(C) * cell_w + 24, steps = 21;
  for (int k = 0; k < steps; ++k)
    c.rect(bx, top + k * bar_h / steps, 14, bar_h / steps + 0.5, {.fill = diverging_colour(1 - 2.0 * k / (steps - 1))});
  c.text(bx + 18, top + 8, fmt::format("{:+.3g}", scale), 10);
  c.text(bx + 18, top + bar_h / 2 + 4, "0", 10);
  c.text(bx + 18, top + bar_h, fmt::format("{:+.3g}", -scale), 10);
  return c.str();
}

std::string attention_svg(const at::Tensor& pattern_in, const std::vector<std::string>& tokens, const std::string& title) {
  if (pattern_in.dim() != 2 || pattern_in.size(0) != pattern_in.size(1) || pattern_in.size(0) != static_cast<std::int64_t>(tokens.size()))
    fail<InputError>("attention figure '{}': pattern of shape {} does not match {} tokens (expected [q, k] = [{}, {}])", title,
                     pattern_in.sizes(), tokens.size(), tokens.size(), tokens.size());
  auto p = pattern_in.to(at::kCPU, at::kDouble).contiguous();
  const auto n = p.size(0);
  const double cell = std::clamp(560.0 / std::max<std::int64_t>(n, 1), 6.0, 24.0), left = 110, top = 110;
  svg::Canvas c(left + n * cell + 20, top + n * cell + 20);
  c.text(10, 22, title, 14, "start", 0, "bold");
  auto a = p.accessor<double, 2>();
  auto label = [&](std::int64_t i) {
    auto t = tokens[static_cast<std::size_t>(i)];
    std::replace(t.begin(), t.end(), ' ', '_');
    return t.size() > 14 ? t.substr(0, 14) : t;
  };
  for (std::int64_t i = 0; i < n; ++i) {
    c.text(left - 4, top + i * cell + cell / 2 + 3, label(i), std::min(10.0, cell * 0.8), "end");
    c.text(left + i * cell + cell / 2 + 3, top - 4, label(i), std::min(10.0, cell * 0.8), "start", -90);
    c.rect(left, top + i * cell, cell * static_cast<double>(i + 1), cell, {.fill = "#ffffff", .stroke = "#eeeeee", .stroke_width = 0.3});
    // Weights under 0.002 would be drawn white anyway; leaving them out keeps long prompts small.
    for (std::int64_t j = 0; j <= i; ++j)
      if (a[i][j] >= 0.002)
        c.rect(left + j * cell, top + i * cell, cell, cell, {.fill = diverging_colour(a[i][j]), .css_class = "mark"},
               fmt::format("{} attends to {}: {:.3f}", label(i), label(j), a[i][j]));
  }
  return c.str();
}

namespace {
// A node's scores: its own, and the signed sums of its kept incoming and outgoing edges.
std::string node_tooltip(const CircuitGraph::Graph& g, CircuitGraph::Vertex v) {
  double in = 0, out = 0;
  int n_in = 0, n_out = 0;
  for (auto e : boost::make_iterator_range(boost::in_edges(v, g)))
    if (g[e].kept) in += g[e].score, ++n_in;
  for (auto e : boost::make_iterator_range(boost::out_edges(v, g)))
    if (g[e].kept) out += g[e].score, ++n_out;
  const auto& n = g[v];
  return fmt::format("{} ({}, layer {}): node score {:.4g}; kept in-edges {} (sum {:+.4g}); kept out-edges {} (sum {:+.4g})",
                     n.name, to_string(n.kind), n.layer, n.score, n_in, in, n_out, out);
}
}  // namespace

std::string graph_svg(const CircuitGraph& cg, const std::string& title) {
  const auto& g = cg.graph();
  // Rows: input at the bottom, then per layer the heads and the MLP, the read-out on top.
  std::map<int, std::vector<CircuitGraph::Vertex>> rows;
  for (auto v : boost::make_iterator_range(boost::vertices(g))) {
    if (!g[v].kept) continue;
    const auto& n = g[v];
    int row = n.kind == NodeKind::Input ? 0 : n.kind == NodeKind::Readout ? 1000 : 1 + 2 * n.layer + (n.kind == NodeKind::Mlp);
    rows[row].push_back(v);
  }
  // Columns: head h in column h, the MLP to the right of the heads, input and read-out centred,
  // so a head keeps its column across layers and edges from one source fan out instead of
  // stacking on one vertical line.
  int n_heads = cg.info().n_heads;
  for (const auto& [r, vs] : rows)
    for (auto v : vs) n_heads = std::max(n_heads, g[v].head + 1);
  // A position-aware graph: one block of columns per span, in token order (the order in which
  // the input's spans appear), the read-out in the last span's block.
  std::vector<std::string> spans;
  for (auto v : boost::make_iterator_range(boost::vertices(g)))
    if (!g[v].span.empty() && std::find(spans.begin(), spans.end(), g[v].span) == spans.end()) spans.push_back(g[v].span);
  const double block = n_heads + 1;
  auto block_of = [&](const CircuitNode& n) {
    if (spans.empty()) return 0.0;
    if (n.kind == NodeKind::Readout) return static_cast<double>(spans.size() - 1);
    return static_cast<double>(std::find(spans.begin(), spans.end(), n.span) - spans.begin());
  };
  const double col_w = spans.empty() ? 80 : 66, left = 90, row_h = 70, top = spans.empty() ? 50 : 68;
  const double w = std::max(480.0, left + col_w * block * static_cast<double>(std::max<std::size_t>(1, spans.size())) + 20);
  const double h = top + row_h * static_cast<double>(rows.size()) + 10;
  svg::Canvas c(std::max(w, 20 + svg::text_width(title, 14, true)), h);
  c.text(10, 22, title, 14, "start", 0, "bold");
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const double x = left + col_w * block * static_cast<double>(i);
    if (i > 0) c.line(x, top - 12, x, h - 4, {.stroke = "#bbb", .stroke_width = 1});
    c.text(x + col_w * block / 2, top - 16, "span " + spans[i], 11, "middle", 0, "bold");
  }
  std::map<CircuitGraph::Vertex, std::pair<double, double>> pos;
  int index = 0;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it, ++index) {
    const double y = top + row_h * index + 20;
    const auto& first = g[it->second.front()];
    const std::string row_label = first.kind == NodeKind::Input ? "embeddings" : first.kind == NodeKind::Readout ? "probe read-out"
                                  : first.kind == NodeKind::Mlp ? fmt::format("layer {} MLP", first.layer)
                                                                 : fmt::format("layer {} attn", first.layer);
    c.text(8, y + 4, row_label, 10, "start");
    for (auto v : it->second) {
      const auto& n = g[v];
      const double column = n.kind == NodeKind::Head ? n.head : n.kind == NodeKind::Mlp ? n_heads : n_heads / 2.0;
      pos[v] = {left + col_w * (block * block_of(n) + column + 0.5), y};
    }
  }
  double top_score = 1e-30;
  for (auto e : boost::make_iterator_range(boost::edges(g)))
    if (g[e].kept) top_score = std::max(top_score, std::abs(g[e].score));
  for (auto e : boost::make_iterator_range(boost::edges(g))) {
    if (!g[e].kept) continue;
    const auto from = boost::source(e, g), to = boost::target(e, g);
    auto [x1, y1] = pos[from];
    auto [x2, y2] = pos[to];
    // Edges that skip rows bend sideways so they do not run through the nodes in between.
    const double rows_skipped = std::abs(y1 - y2) / row_h - 1;
    const double bend = rows_skipped > 0 ? 14 * std::min(rows_skipped, 5.0) * (x2 >= x1 ? -1 : 1) : 0;
    c.curve(x1, y1, (x1 + x2) / 2 + bend, (y1 + y2) / 2, x2, y2,
            {.stroke = g[e].score >= 0 ? "#2166ac" : "#b2182b", .stroke_width = 0.5 + 5 * std::abs(g[e].score) / top_score,
             .opacity = 0.7, .css_class = "mark"},
            fmt::format("{} -> {}{}: {:+.4g}", g[from].name, g[to].name, g[e].qkv.empty() ? "" : " (" + g[e].qkv + ")", g[e].score));
  }
  for (auto& [v, xy] : pos) {
    const auto& n = g[v];
    const char* fill = n.kind == NodeKind::Head ? "#dbe8f5" : n.kind == NodeKind::Mlp ? "#f5e6d3" : "#e0e0e0";
    c.rect(xy.first - 30, xy.second - 11, 60, 22, {.fill = fill, .stroke = "#555", .css_class = "mark"},
           node_tooltip(g, v));
    c.text(xy.first, xy.second + 4, std::string(split_span(n.name).first), 11, "middle");  // the span is the column's
  }
  return c.str();
}

bool render_dot(const std::string& dot, const std::string& svg_path) {
  const auto dot_path = svg_path + ".dot.tmp-" + std::to_string(::getpid());
  const auto tmp = svg_path + ".tmp-" + std::to_string(::getpid());
  // Both temporaries are removed on SIGINT/SIGTERM too (after `dot` is stopped).
  const int dot_slot = register_temp_file(dot_path), svg_slot = register_temp_file(tmp);
  write_file_atomic(dot_path, dot);
  const int rc = run_program({"dot", "-Tsvg", dot_path, "-o", tmp});  // -1: no GraphViz here
  std::remove(dot_path.c_str());
  std::error_code ec;
  if (rc == 0) std::filesystem::rename(tmp, svg_path, ec);
  if (rc != 0 || ec) std::remove(tmp.c_str());
  unregister_temp_file(dot_slot);
  unregister_temp_file(svg_slot);
  return rc == 0 && !ec;
}

}  // namespace patchbay
