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

}  // namespace

std::string line_chart_svg(const LineChart& chart) {
  auto fx = [&](double x) { return chart.log_x ? (x > 0 ? std::log2(x) : std::nan("")) : x; };
  Range xr, yr;
  bool any = false;
  for (const auto& s : chart.series) {
    if (s.x.size() != s.y.size()) fail<InputError>("chart '{}': series '{}' has {} x and {} y values", chart.title, s.name, s.x.size(), s.y.size());
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(fx(s.x[i])) && std::isfinite(s.y[i])) {
        any = true;
        xr.add(fx(s.x[i]));
        yr.add(s.y[i]);
      }
  }
  if (!any) fail<InputError>("chart '{}' has no finite data point", chart.title);
  for (const auto& [x, label] : chart.x_ticks) xr.add(fx(x));
  for (const auto& r : chart.references) yr.add(r.y);
  if (chart.identity_line) {
    xr.add(yr.lo), xr.add(yr.hi);
    yr = xr;
  }
  if (chart.y_range) yr = {chart.y_range->first, chart.y_range->second};
  xr = xr.padded();
  yr = yr.padded();

  const double left = 64, top = 40, w = chart.width, h = chart.height;
  double legend_w = 0;
  for (const auto& s : chart.series) legend_w = std::max(legend_w, 40 + svg::text_width(s.name, 11));
  for (const auto& r : chart.references) legend_w = std::max(legend_w, 40 + svg::text_width(r.name + " (0.000)", 11));
  svg::Canvas c(std::max(left + w + 20 + legend_w, left + 10 + svg::text_width(chart.title, 15, true)), top + h + 56);
  c.text(left, 22, chart.title, 15, "start", 0, "bold");
  const double x_margin = (xr.hi - xr.lo) * 0.03;
  auto X = [&](double x) { return left + w * (fx(x) - xr.lo + x_margin) / (xr.hi - xr.lo + 2 * x_margin); };
  auto Y = [&](double y) { return top + h * (1 - (y - yr.lo) / (yr.hi - yr.lo)); };

  for (double t : nice_ticks(yr.lo, yr.hi)) {
    c.line(left, Y(t), left + w, Y(t), {.stroke = "#e6e6e6"});
    c.text(left - 6, Y(t) + 4, fmt::format("{:.3g}", t), 10, "end");
  }
  if (!chart.x_ticks.empty()) {
    for (const auto& [x, label] : chart.x_ticks) c.text(X(x), top + h + 16, label, 10, "middle");
  } else if (chart.log_x) {
    for (double e = std::ceil(xr.lo); e <= xr.hi; ++e) c.text(X(std::exp2(e)), top + h + 16, fmt::format("{:g}", std::exp2(e)), 10, "middle");
  } else {
    for (double t : nice_ticks(xr.lo, xr.hi)) c.text(X(t), top + h + 16, fmt::format("{:.3g}", t), 10, "middle");
  }
  c.line(left, top, left, top + h, {.stroke = "#333"});
  c.line(left, top + h, left + w, top + h, {.stroke = "#333"});
  c.text(left + w / 2, top + h + 38, chart.x_label, 12, "middle");
  c.text(16, top + h / 2, chart.y_label, 12, "middle", -90);

  if (chart.identity_line) {
    const double lo = std::max(xr.lo, yr.lo), hi = std::min(xr.hi, yr.hi);
    c.line(X(lo), Y(lo), X(hi), Y(hi), {.stroke = "#999999", .dash = "3 3"}, "y = x");
  }
  for (const auto& r : chart.references)
    c.line(left, Y(r.y), left + w, Y(r.y), {.stroke = r.colour, .stroke_width = 1.5, .dash = "6 4"}, fmt::format("{}: {:.4g}", r.name, r.y));

  for (const auto& s : chart.series) {
    std::vector<std::pair<double, double>> points;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(fx(s.x[i])) && std::isfinite(s.y[i])) points.emplace_back(X(s.x[i]), Y(s.y[i]));
    if (s.line && points.size() > 1) c.polyline(points, {.stroke = s.colour, .stroke_width = s.line_width, .dash = s.dash, .css_class = "mark"});
    if (s.marker_radius <= 0) continue;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(fx(s.x[i])) || !std::isfinite(s.y[i])) continue;
      const auto tip = i < s.tooltips.size() ? s.tooltips[i] : fmt::format("{}: ({:.4g}, {:.4g})", s.name, s.x[i], s.y[i]);
      c.circle(X(s.x[i]), Y(s.y[i]), s.marker_radius, {.fill = s.colour, .opacity = s.line ? 1.0 : 0.6, .css_class = "mark"}, tip);
    }
  }

  const double lx = left + w + 20;
  int row = 0;
  auto legend = [&](const std::string& label, const svg::Style& style) {
    const double y = top + 10 + 20 * row++;
    c.line(lx, y, lx + 24, y, style);
    c.text(lx + 30, y + 4, label, 11);
  };
  for (const auto& s : chart.series)
    legend(s.name, {.stroke = s.colour, .stroke_width = s.line ? s.line_width : 2 * s.marker_radius, .dash = s.dash});
  for (const auto& r : chart.references) legend(fmt::format("{} ({:.3g})", r.name, r.y), {.stroke = r.colour, .stroke_width = 1.5, .dash = "6 4"});
  return c.str();
}

}  // namespace patchbay
