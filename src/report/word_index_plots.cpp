#include "patchbay/report/word_index_plots.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/report/charts.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay {

std::string key_plot_svg(const Evaluation& e, int K, const std::string& title) {
  const auto P = static_cast<int>(e.positions.size());
  const double left = 70, top = 40, row_h = 70, row_gap = 12, bar_w = std::max(4.0, std::min(18.0, 900.0 / std::max(P, 1)));
  const double plot_w = bar_w * P, legend_w = 130;
  const double title_w = 10 + svg::text_width(title, 15, true);
  svg::Canvas c(std::max(left + plot_w + legend_w + 20, title_w + left), top + K * (row_h + row_gap) + 60);
  c.text(left, 22, title, 15, "start", 0, "bold");
  auto cells = e.cells.to(at::kDouble);  // [K, P, K]
  for (int k = 0; k < K; ++k) {
    const double y0 = top + k * (row_h + row_gap);
    c.text(left - 8, y0 + row_h / 2 + 4, fmt::format("word {}", k), 12, "end");
    c.rect(left, y0, plot_w, row_h, {.fill = "#f7f7f7"});
    for (int p = 0; p < P; ++p) {
      auto counts = cells[k][p];
      double total = counts.sum().item<double>();
      if (total == 0) continue;
      double y = y0 + row_h;
      for (int j = 0; j < K; ++j) {
        double n = counts[j].item<double>();
        if (n == 0) continue;
        double h = row_h * n / total;
        y -= h;
        c.rect(left + p * bar_w, y, bar_w - 1, h, {.fill = svg::categorical(j), .css_class = "mark"},
               fmt::format("true word {}, position {}: predicted {} in {:.0f} of {:.0f} ({:.1f}%)", k, e.positions[p], j, n,
                           total, 100 * n / total));
      }
    }
  }
  const double axis_y = top + K * (row_h + row_gap);
  for (int p = 0; p < P; ++p)
    if (P <= 30 || p % ((P + 29) / 30) == 0)
      c.text(left + p * bar_w + bar_w / 2, axis_y + 12, std::to_string(e.positions[p]), 9, "middle");
  c.text(left + plot_w / 2, axis_y + 32, "absolute token position", 12, "middle");
  c.text(left + plot_w + 20, top + 10, "predicted word", 12, "start", 0, "bold");
  for (int j = 0; j < K; ++j) {
    c.rect(left + plot_w + 20, top + 20 + j * 18, 12, 12, {.fill = svg::categorical(j)});
    c.text(left + plot_w + 38, top + 30 + j * 18, fmt::format("word {}", j), 11);
  }
  return c.str();
}

std::string layer_sweep_svg(const LayerSweep& s, const std::string& title) {
  LineChart chart{.title = title, .x_label = "layer (residual stream after the block)", .y_label = "validation accuracy"};
  std::vector<double> x;
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    x.push_back(static_cast<double>(i));
    chart.x_ticks.emplace_back(static_cast<double>(i), s.layers[i]);
  }
  ChartSeries probe{.name = "word-index probe", .colour = "#4477AA", .x = x, .y = s.accuracy, .line_width = 2.5};
  for (std::size_t i = 0; i < s.layers.size(); ++i)
    probe.tooltips.push_back(fmt::format("layer {}: accuracy {:.3f}, control {:.3f}, selectivity {:.3f}", s.layers[i],
                                         s.accuracy[i], s.control[i], s.accuracy[i] - s.control[i]));
  chart.series = {std::move(probe),
                  {.name = "control task", .colour = "#AA3377", .x = x, .y = s.control, .line_width = 1.5, .dash = "2 3", .marker_radius = 3}};
  chart.references = {{"absolute position", s.abs_position, "#CCBB44"}, {"space count", s.space_count, "#66CCEE"}, {"chance", s.chance, "#999999"}};
  chart.y_range = {0.0, 1.0};
  return line_chart_svg(chart);
}

}  // namespace patchbay
