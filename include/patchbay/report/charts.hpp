#pragma once
// One x-y chart for every line and scatter plot (layer sweeps, faithfulness curves, attribution
// against exact patching): series of points, horizontal reference lines, an optional identity
// line, categorical or numeric (optionally log-scale) x axis.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace patchbay {

struct ChartSeries {
  std::string name;
  std::string colour = "#4477AA";
  std::vector<double> x, y;          // same length; non-finite points are skipped
  std::vector<std::string> tooltips; // per point; empty: "name: (x, y)"
  bool line = true;                  // join the points
  double line_width = 2;
  std::string dash;                  // SVG dash pattern, e.g. "4 3"
  double marker_radius = 3.5;        // 0: no markers
};

struct ChartReference {
  std::string name;
  double y = 0;
  std::string colour = "#999999";
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  std::vector<ChartReference> references;  // dashed horizontal lines, named in the legend
  std::vector<std::pair<double, std::string>> x_ticks;  // empty: automatic numeric ticks
  bool log_x = false;                      // base-2 log axis (x must be > 0)
  bool identity_line = false;              // y = x, for "estimate against truth" scatter plots
  std::optional<std::pair<double, double>> y_range;  // empty: fitted to the data and references
  double width = 520, height = 300;        // the plot area, in pixels
};

// Throws InputError when no series has a finite point (an empty chart says nothing).
std::string line_chart_svg(const LineChart& chart);

}  // namespace patchbay
