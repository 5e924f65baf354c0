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
  auto values = values_in.to(at::kCPU, at::kDouble).contiguous();
  const auto R = values.size(0), C = values.size(1);
  const double cell = std::clamp(600.0 / std::max<std::int64_t>(C, 1), 8.0, 36.0);
  const double left = 80, top = 50;
  double scale = values.abs().max().item<double>();
  if (!(scale > 0)) scale = 1;
  svg::Canvas c(std::max(left + C * cell + 120, 10 + 8.2 * title.size()), top + R * cell + 70);
  c.text(10, 22, title, 14, "start", 0, "bold");
  auto a = values.accessor<double, 2>();
  for (std::int64_t i = 0; i < R; ++i) {
    c.text(left - 6, top + i * cell + cell / 2 + 4, rows[static_cast<std::size_t>(i)], 10, "end");
    for (std::int64_t j = 0; j < C; ++j)
      c.rect(left + j * cell, top + i * cell, cell, cell, {.fill = diverging_colour(a[i][j] / scale), .stroke = "#ffffff", .stroke_width = 0.5},
             fmt::format("{} {}, {} {}: {:.4g}", row_axis, rows[static_cast<std::size_t>(i)], col_axis, cols[static_cast<std::size_t>(j)], a[i][j]));
  }
  const auto step = std::max<std::int64_t>(1, (C + 29) / 30);
  for (std::int64_t j = 0; j < C; j += step)
    c.text(left + j * cell + cell / 2, top + R * cell + 12, cols[static_cast<std::size_t>(j)], 9, "middle");
  c.text(left + C * cell / 2, top + R * cell + 32, col_axis, 12, "middle");
  c.text(14, top + R * cell / 2, row_axis, 12, "middle", -90);
  // colour bar
  const double bx = left + C * cell + 30;
  for (int k = 0; k < 20; ++k) {
    double v = 1 - k / 9.5;
    c.rect(bx, top + k * 8, 14, 8, {.fill = diverging_colour(v)});
  }
  c.text(bx + 18, top + 8, fmt::format("{:+.3g}", scale), 10);
  c.text(bx + 18, top + 84, "0", 10);
  c.text(bx + 18, top + 160, fmt::format("{:+.3g}", -scale), 10);
  return c.str();
}

std::string attention_svg(const at::Tensor& pattern_in, const std::vector<std::string>& tokens, const std::string& title) {
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
    for (std::int64_t j = 0; j <= i; ++j)
      c.rect(left + j * cell, top + i * cell, cell, cell, {.fill = diverging_colour(a[i][j])},
             fmt::format("{} -> {}: {:.3f}", label(i), label(j), a[i][j]));
  }
  return c.str();
}

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
  std::size_t widest = 1;
  for (auto& [r, vs] : rows) widest = std::max(widest, vs.size());
  const double w = std::max(480.0, 90.0 * widest + 80), row_h = 70, top = 50;
  const double h = top + row_h * rows.size() + 30;
  svg::Canvas c(w, h);
  c.text(10, 22, title, 14, "start", 0, "bold");
  std::map<CircuitGraph::Vertex, std::pair<double, double>> pos;
  int index = 0;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it, ++index) {
    const auto& vs = it->second;
    for (std::size_t i = 0; i < vs.size(); ++i)
      pos[vs[i]] = {w * (i + 1.0) / (vs.size() + 1.0), top + row_h * index + 20};
  }
  double top_score = 1e-30;
  for (auto e : boost::make_iterator_range(boost::edges(g)))
    if (g[e].kept) top_score = std::max(top_score, std::abs(g[e].score));
  for (auto e : boost::make_iterator_range(boost::edges(g))) {
    if (!g[e].kept) continue;
    auto [x1, y1] = pos[boost::source(e, g)];
    auto [x2, y2] = pos[boost::target(e, g)];
    c.line(x1, y1, x2, y2, {.stroke = g[e].score >= 0 ? "#2166ac" : "#b2182b", .stroke_width = 0.5 + 5 * std::abs(g[e].score) / top_score, .opacity = 0.7});
  }
  for (auto& [v, xy] : pos) {
    const auto& n = g[v];
    const char* fill = n.kind == NodeKind::Head ? "#dbe8f5" : n.kind == NodeKind::Mlp ? "#f5e6d3" : "#e0e0e0";
    c.rect(xy.first - 30, xy.second - 11, 60, 22, {.fill = fill, .stroke = "#555"},
           fmt::format("{} ({}, layer {}): total |edge score| {:.4g}", n.name, to_string(n.kind), n.layer, n.score));
    c.text(xy.first, xy.second + 4, n.name, 11, "middle");
  }
  return c.str();
}

bool render_dot(const std::string& dot, const std::string& svg_path) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) return false;
  const auto dot_path = svg_path + ".dot.tmp-" + std::to_string(::getpid());
  svg::write_file_atomic(dot_path, dot);
  const auto tmp = svg_path + ".tmp-" + std::to_string(::getpid());
  const int rc = std::system(fmt::format("dot -Tsvg '{}' -o '{}' 2>/dev/null", dot_path, tmp).c_str());
  std::remove(dot_path.c_str());
  if (rc != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  std::filesystem::rename(tmp, svg_path);
  return true;
}

}  // namespace patchbay
