#include "patchbay/report/svg.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/text.hpp"

namespace patchbay::svg {

std::string escape(const std::string& text) { return escape_xml(text); }


std::string Style::to_attributes() const {
  std::string out = fmt::format(R"(fill="{}" stroke="{}")", fill, stroke);
  if (stroke != "none") out += fmt::format(R"( stroke-width="{:.2f}")", stroke_width);
  if (!dash.empty()) out += fmt::format(R"( stroke-dasharray="{}")", dash);
  if (opacity < 1) out += fmt::format(R"( opacity="{:.3f}")", opacity);
  if (!css_class.empty()) out += fmt::format(R"( class="{}")", css_class);
  return out;
}

namespace {
std::string with_tooltip(const std::string& open, const std::string& tag, const std::string& tooltip) {
  if (tooltip.empty()) return open + "/>";
  return fmt::format("{}><title>{}</title></{}>", open, escape(tooltip), tag);
}
}  // namespace

void Canvas::rect(double x, double y, double w, double h, const Style& style, const std::string& tooltip) {
  elements_.push_back(with_tooltip(
      fmt::format(R"(<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" {})", x, y, w, h, style.to_attributes()),
      "rect", tooltip));
}

void Canvas::line(double x1, double y1, double x2, double y2, const Style& style, const std::string& tooltip) {
  elements_.push_back(with_tooltip(fmt::format(R"(<line x1="{:.2f}" y1="{:.2f}" x2="{:.2f}" y2="{:.2f}" {})", x1, y1, x2,
                                               y2, style.to_attributes()),
                                   "line", tooltip));
}

void Canvas::curve(double x1, double y1, double cx, double cy, double x2, double y2, const Style& style,
                   const std::string& tooltip) {
  elements_.push_back(with_tooltip(fmt::format(R"(<path d="M {:.2f} {:.2f} Q {:.2f} {:.2f} {:.2f} {:.2f}" {})", x1, y1,
                                               cx, cy, x2, y2, style.to_attributes()),
                                   "path", tooltip));
}

void Canvas::polyline(const std::vector<std::pair<double, double>>& points, const Style& style) {
  std::string pts;
  for (const auto& [x, y] : points) pts += fmt::format("{:.2f},{:.2f} ", x, y);
  elements_.push_back(fmt::format(R"(<polyline points="{}" {}/>)", pts, style.to_attributes()));
}

void Canvas::circle(double cx, double cy, double r, const Style& style, const std::string& tooltip) {
  elements_.push_back(with_tooltip(
      fmt::format(R"(<circle cx="{:.2f}" cy="{:.2f}" r="{:.2f}" {})", cx, cy, r, style.to_attributes()), "circle", tooltip));
}

void Canvas::text(double x, double y, const std::string& content, double size, const std::string& anchor, double rotate,
                  const std::string& weight) {
  std::string transform = rotate != 0 ? fmt::format(R"svg( transform="rotate({:.1f} {:.2f} {:.2f})")svg", rotate, x, y) : "";
  elements_.push_back(fmt::format(R"(<text x="{:.2f}" y="{:.2f}" font-size="{:.1f}" text-anchor="{}" font-weight="{}"{}>{}</text>)",
                                  x, y, size, anchor, weight, transform, escape(content)));
}

std::string Canvas::str() const {
  std::string out = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" viewBox="0 0 {:.0f} {:.0f}" font-family="Helvetica, Arial, sans-serif">)"
      "\n",
      width_, height_, width_, height_);
  out += fmt::format(R"(<rect x="0" y="0" width="{:.0f}" height="{:.0f}" fill="white"/>)", width_, height_) + "\n";
  for (const auto& e : elements_) out += e + "\n";
  return out + "</svg>\n";
}

double text_width(const std::string& text, double size, bool bold) {
  std::size_t characters = 0;
  for (char c : text) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // UTF-8 lead bytes
  return static_cast<double>(characters) * size * (bold ? 0.64 : 0.58);
}

const std::string& categorical(int i) {
  static const std::array<std::string, 10> palette = {"#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE",
                                                      "#AA3377", "#BBBBBB", "#000000", "#EE7733", "#009988"};
  return palette[static_cast<std::size_t>(i) % palette.size()];
}


}  // namespace patchbay::svg
