// The probe-text section of a report: the text with every token coloured by the word index
// the probe predicts for it (hover for the probabilities).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/probe/probe_text.hpp"
#include "patchbay/report/svg.hpp"
#include "report_sections.hpp"

namespace patchbay::report_detail {
namespace {

// Visible text of a token: byte-level spaces and the llama2.c "▁" shown as a space, newlines as ⏎.
std::string visible(std::string token) {
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"\u0120", " "}, {"\u2581", " "}, {"\n", "\u23CE"}, {"\u010A", "\u23CE"}})
    for (std::size_t at; (at = token.find(from)) != std::string::npos;) token.replace(at, from.size(), to);
  return token.empty() ? " " : token;
}

std::string tooltip(const ProbeTextResult& r, std::size_t i) {
  const auto p = r.probabilities[static_cast<std::int64_t>(i)];
  std::string probs;
  for (std::int64_t k = 0; k < p.size(0); ++k) probs += fmt::format("{}{}: {:.3f}", k ? ", " : "", k, p[k].item<double>());
  const auto predicted = r.predicted[static_cast<std::int64_t>(i)].item<std::int64_t>();
  return fmt::format("position {} '{}' ({}): word {} with probability {:.3f}", i, visible(r.token_text[i]), probs, predicted,
                     p[predicted].item<double>());
}

// Tokens flowed into lines like text, each a box in its predicted word's colour.
std::string token_predictions_svg(const ProbeTextResult& r, const std::string& title) {
  const double left = 10, top = 40, width = 900, line_h = 22, size = 12;
  std::vector<std::tuple<double, double, double>> boxes;  // x, y, w of each token
  double x = left, y = top;
  for (const auto& t : r.token_text) {
    const double w = svg::text_width(visible(t), size) + 4;
    if (x + w > left + width && x > left) {
      x = left;
      y += line_h;
    }
    boxes.emplace_back(x, y, w);
    x += w + 1;
  }
  const auto classes = r.probabilities.size(1);
  const double legend_y = y + line_h + 16;
  svg::Canvas c(left + width + 10, legend_y + 30);
  c.text(left, 22, title, 15, "start", 0, "bold");
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto [bx, by, bw] = boxes[i];
    const auto k = static_cast<int>(r.predicted[static_cast<std::int64_t>(i)].item<std::int64_t>());
    c.rect(bx, by, bw, line_h - 4, {.fill = svg::categorical(k), .opacity = 0.45, .css_class = "mark"}, tooltip(r, i));
    c.text(bx + 2, by + line_h - 9, visible(r.token_text[i]), size);
  }
  for (std::int64_t k = 0; k < classes; ++k) {
    c.rect(left + 90 * static_cast<double>(k), legend_y, 12, 12, {.fill = svg::categorical(static_cast<int>(k)), .opacity = 0.45});
    c.text(left + 90 * static_cast<double>(k) + 16, legend_y + 10, fmt::format("word {}", k), 11);
  }
  return c.str();
}

}  // namespace

void add_probe_text_sections(html::Document& doc, const H5Reader& in, const std::string& prefix) {
  const auto r = read_probe_text(in);
  doc.section(fmt::format("The probe on free text ({})", in.attribute("model").value_or("model")))
      .paragraph(fmt::format("Each of the {} tokens coloured by the word index the probe of layer {} (from {}) predicts for it; hover "
                             "over a token for the probabilities of every word index. The probe was trained on word lists, not "
                             "on running text.", r.tokens.size(), r.layer, r.probe))
      .figure({.name = prefix + "probe_text", .caption = "Predicted word index of every token of the text.",
               .svg = token_predictions_svg(r, fmt::format("Probe predictions by token (layer {})", r.layer))});
}

}  // namespace patchbay::report_detail
