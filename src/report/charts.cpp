#include "patchbay/report/charts.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay {
namespace {

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // Widens a degenerate range so that a single value sits in the middle of the axis.
  Range padded() const {
    if (hi > lo) return *this;
    const double d = std::max(std::abs(lo) * 0.1, 0.5);
    return {lo - d, hi + d};
  }
};

// About five round tick values covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

double chart_x(const LineChart& chart, double x) { return chart.log_x ? (x > 0 ? std::log2(x) : std::nan("")) : x; }

// The plotting area and the data-to-pixel mapping (x through log2 on a log axis).
struct ChartFrame {
  const LineChart& chart;
  Range xr, yr;
  double left = 64, top = 40, w = 0, h = 0, x_margin = 0;
  double X(double x) const { return left + w * (chart_x(chart, x) - xr.lo + x_margin) / (xr.hi - xr.lo + 2 * x_margin); }
  double Y(double y) const { return top + h * (1 - (y - yr.lo) / (yr.hi - yr.lo)); }
};

ChartFrame frame_for(const LineChart& chart) {
  ChartFrame f{.chart = chart, .w = static_cast<double>(chart.width), .h = static_cast<double>(chart.height)};
  bool any = false;
  for (const auto& s : chart.series) {
    if (s.x.size() != s.y.size()) fail<InputError>("chart '{}': series '{}' has {} x and {} y values", chart.title, s.name, s.x.size(), s.y.size());
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(chart_x(chart, s.x[i])) && std::isfinite(s.y[i])) {
        any = true;
        f.xr.add(chart_x(chart, s.x[i]));
        f.yr.add(s.y[i]);
      }
  }
  if (!any) fail<InputError>("chart '{}' has no finite data point", chart.title);
  for (const auto& [x, label] : chart.x_ticks) f.xr.add(chart_x(chart, x));
  for (const auto& r : chart.references) f.yr.add(r.y);
  if (chart.identity_line) {
    f.xr.add(f.yr.lo), f.xr.add(f.yr.hi);
    f.yr = f.xr;
  }
  if (chart.y_range) f.yr = {chart.y_range->first, chart.y_range->second};
  f.xr = f.xr.padded();
  f.yr = f.yr.padded();
  f.x_margin = (f.xr.hi - f.xr.lo) * 0.03;
  return f;
}

void draw_axes(svg::Canvas& c, const ChartFrame& f) {
  const auto& chart = f.chart;
  for (double t : nice_ticks(f.yr.lo, f.yr.hi)) {
    c.line(f.left, f.Y(t), f.left + f.w, f.Y(t), {.stroke = "#e6e6e6"});
    c.text(f.left - 6, f.Y(t) + 4, fmt::format("{:.3g}", t), 10, "end");
  }
  const double tick_y = f.top + f.h + 16;
  if (!chart.x_ticks.empty()) {
    for (const auto& [x, label] : chart.x_ticks) c.text(f.X(x), tick_y, label, 10, "middle");
  } else if (chart.log_x) {
    for (double e = std::ceil(f.xr.lo); e <= f.xr.hi; ++e) c.text(f.X(std::exp2(e)), tick_y, fmt::format("{:g}", std::exp2(e)), 10, "middle");
  } else {
    for (double t : nice_ticks(f.xr.lo, f.xr.hi)) c.text(f.X(t), tick_y, fmt::format("{:.3g}", t), 10, "middle");
  }
  c.line(f.left, f.top, f.left, f.top + f.h, {.stroke = "#333"});
  c.line(f.left, f.top + f.h, f.left + f.w, f.top + f.h, {.stroke = "#333"});
  c.text(f.left + f.w / 2, f.top + f.h + 38, chart.x_label, 12, "middle");
  c.text(16, f.top + f.h / 2, chart.y_label, 12, "middle", -90);
}

void draw_data(svg::Canvas& c, const ChartFrame& f) {
  const auto& chart = f.chart;
  if (chart.identity_line) {
    const double lo = std::max(f.xr.lo, f.yr.lo), hi = std::min(f.xr.hi, f.yr.hi);
    c.line(f.X(lo), f.Y(lo), f.X(hi), f.Y(hi), {.stroke = "#999999", .dash = "3 3"}, "y = x");
  }
  for (const auto& r : chart.references)
    c.line(f.left, f.Y(r.y), f.left + f.w, f.Y(r.y), {.stroke = r.colour, .stroke_width = 1.5, .dash = "6 4"}, fmt::format("{}: {:.4g}", r.name, r.y));
  for (const auto& s : chart.series) {
    auto finite = [&](std::size_t i) { return std::isfinite(chart_x(chart, s.x[i])) && std::isfinite(s.y[i]); };
    std::vector<std::pair<double, double>> points;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (finite(i)) points.emplace_back(f.X(s.x[i]), f.Y(s.y[i]));
    if (s.line && points.size() > 1) c.polyline(points, {.stroke = s.colour, .stroke_width = s.line_width, .dash = s.dash, .css_class = "mark"});
    if (s.marker_radius <= 0) continue;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!finite(i)) continue;
      const auto tip = i < s.tooltips.size() ? s.tooltips[i] : fmt::format("{}: ({:.4g}, {:.4g})", s.name, s.x[i], s.y[i]);
      c.circle(f.X(s.x[i]), f.Y(s.y[i]), s.marker_radius, {.fill = s.colour, .opacity = s.line ? 1.0 : 0.6, .css_class = "mark"}, tip);
    }
  }
}

void draw_legend(svg::Canvas& c, const ChartFrame& f) {
  const double lx = f.left + f.w + 20;
  int row = 0;
  auto entry = [&](const std::string& label, const svg::Style& style) {
    const double y = f.top + 10 + 20 * row++;
    c.line(lx, y, lx + 24, y, style);
    c.text(lx + 30, y + 4, label, 11);
  };
  for (const auto& s : f.chart.series)
    entry(s.name, {.stroke = s.colour, .stroke_width = s.line ? s.line_width : 2 * s.marker_radius, .dash = s.dash});
  for (const auto& r : f.chart.references) entry(fmt::format("{} ({:.3g})", r.name, r.y), {.stroke = r.colour, .stroke_width = 1.5, .dash = "6 4"});
}

}  // namespace

std::string line_chart_svg(const LineChart& chart) {
  const auto frame = frame_for(chart);
  double legend_w = 0;
  for (const auto& s : chart.series) legend_w = std::max(legend_w, 40 + svg::text_width(s.name, 11));
  for (const auto& r : chart.references) legend_w = std::max(legend_w, 40 + svg::text_width(r.name + " (0.000)", 11));
  svg::Canvas c(std::max(frame.left + frame.w + 20 + legend_w, frame.left + 10 + svg::text_width(chart.title, 15, true)), frame.top + frame.h + 56);
  c.text(frame.left, 22, chart.title, 15, "start", 0, "bold");
  draw_axes(c, frame);
  draw_data(c, frame);
  draw_legend(c, frame);
  return c.str();
}

}  // namespace patchbay
