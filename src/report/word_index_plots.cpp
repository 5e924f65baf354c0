#include "patchbay/report/word_index_plots.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/report/svg.hpp"

namespace patchbay {

std::string key_plot_svg(const Evaluation& e, int K, const std::string& title) {
  const auto P = static_cast<int>(e.positions.size());
  const double left = 70, top = 40, row_h = 70, row_gap = 12, bar_w = std::max(4.0, std::min(18.0, 900.0 / std::max(P, 1)));
  const double plot_w = bar_w * P, legend_w = 130;
  const double title_w = 10 + 8.2 * static_cast<double>(title.size());  // ~8 px per character at 15 px bold
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
        c.rect(left + p * bar_w, y, bar_w - 1, h, {.fill = svg::categorical(j)},
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

std::string layer_sweep_svg(const WordIndexResults& r, const std::string& title) {
  const double left = 60, top = 40, w = 520, h = 300;
  svg::Canvas c(left + w + 200, top + h + 60);
  c.text(left, 22, title, 15, "start", 0, "bold");
  const auto n = static_cast<int>(r.layers.size());
  auto x_of = [&](int i) { return left + (n == 1 ? w / 2 : w * i / (n - 1.0)); };
  auto y_of = [&](double acc) { return top + h * (1 - acc); };
  // axes and grid
  for (int t = 0; t <= 10; t += 2) {
    double v = t / 10.0;
    c.line(left, y_of(v), left + w, y_of(v), {.stroke = "#e0e0e0"});
    c.text(left - 6, y_of(v) + 4, fmt::format("{:.1f}", v), 10, "end");
  }
  c.line(left, top, left, top + h, {.stroke = "#333"});
  c.line(left, top + h, left + w, top + h, {.stroke = "#333"});
  for (int i = 0; i < n; ++i) c.text(x_of(i), top + h + 16, probe_layer_name(r.layers[i].layer), 11, "middle");
  c.text(left + w / 2, top + h + 38, "layer (residual stream after the block)", 12, "middle");
  c.text(18, top + h / 2, "validation accuracy", 12, "middle", -90);

  struct Reference {
    const char* name;
    double value;
    std::string colour;
  };
  const Reference refs[] = {{"absolute position", r.abs_position_baseline.accuracy, "#CCBB44"},
                            {"space count", r.space_count_baseline.accuracy, "#66CCEE"},
                            {"chance", r.chance(), "#999999"}};
  for (const auto& ref : refs)
    c.line(left, y_of(ref.value), left + w, y_of(ref.value), {.stroke = ref.colour, .stroke_width = 1.5, .dash = "6 4"});

  std::vector<std::pair<double, double>> probe_line, control_line;
  for (int i = 0; i < n; ++i) {
    probe_line.emplace_back(x_of(i), y_of(r.layers[i].val.accuracy));
    control_line.emplace_back(x_of(i), y_of(r.layers[i].control_accuracy));
  }
  c.polyline(control_line, {.stroke = "#AA3377", .stroke_width = 1.5, .dash = "2 3"});
  c.polyline(probe_line, {.stroke = "#4477AA", .stroke_width = 2.5});
  for (int i = 0; i < n; ++i) {
    const auto& l = r.layers[i];
    c.circle(x_of(i), y_of(l.val.accuracy), 4, {.fill = "#4477AA"},
             fmt::format("layer {}: accuracy {:.3f}, control {:.3f}, selectivity {:.3f}", probe_layer_name(l.layer),
                         l.val.accuracy, l.control_accuracy, l.selectivity()));
    c.circle(x_of(i), y_of(l.control_accuracy), 3, {.fill = "#AA3377"});
  }
  const double lx = left + w + 20;
  auto legend = [&](int row, const std::string& label, const svg::Style& style) {
    double y = top + 10 + row * 20;
    c.line(lx, y, lx + 24, y, style);
    c.text(lx + 30, y + 4, label, 11);
  };
  legend(0, "word-index probe", {.stroke = "#4477AA", .stroke_width = 2.5});
  legend(1, "control task", {.stroke = "#AA3377", .stroke_width = 1.5, .dash = "2 3"});
  for (int i = 0; i < 3; ++i)
    legend(2 + i, fmt::format("{} ({:.2f})", refs[i].name, refs[i].value),
           {.stroke = refs[i].colour, .stroke_width = 1.5, .dash = "6 4"});
  return c.str();
}

}  // namespace patchbay
