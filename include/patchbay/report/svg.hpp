#pragma once
// A minimal SVG writer: shapes and text appended to a canvas, serialised as one standalone,
// well-formed document. Text is XML-escaped; numbers are written with fixed precision.
#include "patchbay/io/atomic_file.hpp"
#include <string>
#include <vector>

namespace patchbay::svg {

// escape_xml (patchbay/core/text.hpp), the name the figure code uses.
std::string escape(const std::string& text);

struct Style {
  std::string fill = "none";
  std::string stroke = "none";
  double stroke_width = 1;
  std::string dash;        // e.g. "4 3"
  double opacity = 1;
  // "mark" on elements that carry data (cells, bars, points, nodes, edges): tests and scripts
  // find a figure's data through it.
  std::string css_class;
  std::string to_attributes() const;
};

class Canvas {
 public:
  Canvas(double width, double height) : width_(width), height_(height) {}
  // `tooltip` becomes a <title> child: shown on hover in browsers.
  void rect(double x, double y, double w, double h, const Style& style, const std::string& tooltip = "");
  void line(double x1, double y1, double x2, double y2, const Style& style, const std::string& tooltip = "");
  // A quadratic Bezier curve from (x1, y1) to (x2, y2) bending through control point (cx, cy).
  void curve(double x1, double y1, double cx, double cy, double x2, double y2, const Style& style,
             const std::string& tooltip = "");
  void polyline(const std::vector<std::pair<double, double>>& points, const Style& style);
  void circle(double cx, double cy, double r, const Style& style, const std::string& tooltip = "");
  // anchor: "start", "middle" or "end"; rotate in degrees around (x, y).
  void text(double x, double y, const std::string& content, double size = 12, const std::string& anchor = "start",
            double rotate = 0, const std::string& weight = "normal");
  std::string str() const;  // the full <svg> document
  double width() const { return width_; }
  double height() const { return height_; }

 private:
  double width_, height_;
  std::vector<std::string> elements_;
};

// Estimated width in pixels of `text` at font `size` (a sans-serif font averages ~0.6 em per
// character, bold a little more): enough to size a canvas so that titles are not cut off.
double text_width(const std::string& text, double size, bool bold = false);

// A categorical palette (colour-blind friendly, 10 colours, then repeats).
const std::string& categorical(int i);


}  // namespace patchbay::svg
