#include "patchbay/report/html.hpp"

#include <set>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/version.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay::html {
namespace {

constexpr const char* kStyle = R"css(
body { font-family: Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 24px 48px; color: #222; }
header { border-bottom: 1px solid #ddd; margin-bottom: 8px; }
h1 { font-size: 24px; margin: 24px 0 8px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #eee; padding-bottom: 4px; }
nav a { margin-right: 14px; color: #2166ac; text-decoration: none; font-size: 14px; }
p { line-height: 1.45; max-width: 900px; }
figure { margin: 16px 0 24px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #f0f0f0; }
figcaption { font-size: 13px; color: #555; max-width: 900px; margin-top: 4px; }
.choice label { font-size: 14px; margin-right: 8px; }
.choice select { font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.value { font-family: Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; max-width: 800px; }
footer { margin-top: 40px; font-size: 12px; color: #777; }
)css";

// Records script errors on the page before anything else runs, so a headless browser (or a
// reader with the inspector closed) can see them in the DOM.
constexpr const char* kErrorCatcher = R"js(
window.addEventListener('error', function (e) {
  var root = document.documentElement;
  root.setAttribute('data-report-errors', (root.getAttribute('data-report-errors') || '') + e.message + ';');
});
)js";

// Shows the figure picked in each choice's list and hides the others; marks the page ready.
constexpr const char* kChoices = R"js(
(function () {
  var selects = document.querySelectorAll('select[data-choice]');
  Array.prototype.forEach.call(selects, function (select) {
    var show = function () {
      var figures = document.querySelectorAll('[data-choice-of="' + select.getAttribute('data-choice') + '"]');
      Array.prototype.forEach.call(figures, function (f) { f.hidden = f.getAttribute('data-option') !== select.value; });
    };
    select.addEventListener('change', show);
    show();
  });
  document.documentElement.setAttribute('data-report-ready', String(document.querySelectorAll('figure svg').length));
})();
)js";

std::string figure_html(const Figure& f, const std::string& extra_attributes = "") {
  return fmt::format("<figure id=\"fig-{}\"{}>\n{}<figcaption>{}</figcaption>\n</figure>\n", safe_name(f.name), extra_attributes,
                     f.svg, svg::escape(f.caption));
}

std::string choice_html(const Choice& c) {
  const auto id = safe_name(c.options.front().second.name);
  std::string out = fmt::format("<div class=\"choice\"><label for=\"choice-{}\">{}</label><select id=\"choice-{}\" data-choice=\"{}\">", id,
                                svg::escape(c.label), id, id);
  for (std::size_t i = 0; i < c.options.size(); ++i)
    out += fmt::format("<option value=\"{}\"{}>{}</option>", i, i == 0 ? " selected=\"selected\"" : "", svg::escape(c.options[i].first));
  out += "</select></div>\n";
  // Without JavaScript the first option shows; the script keeps the others in step with the list.
  for (std::size_t i = 0; i < c.options.size(); ++i)
    out += figure_html(c.options[i].second,
                       fmt::format(" data-choice-of=\"{}\" data-option=\"{}\"{}", id, i, i == 0 ? "" : " hidden=\"hidden\""));
  return out;
}

std::string table_html(const Table& t) {
  std::string out = "<table>\n<tr>";
  for (const auto& h : t.header) out += "<th>" + svg::escape(h) + "</th>";
  out += "</tr>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i) out += fmt::format("<td{}>{}</td>", i == 0 ? "" : " class=\"value\"", svg::escape(row[i]));
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

}  // namespace

std::string safe_name(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "_" : out;
}

Section& Section::paragraph(std::string text) {
  parts_.emplace_back(Paragraph{std::move(text)});
  return *this;
}

Section& Section::figure(Figure figure) {
  parts_.emplace_back(std::move(figure));
  return *this;
}

Section& Section::choice(Choice choice) {
  if (choice.options.empty()) fail<InputError>("report section '{}': choice '{}' has no options", title_, choice.label);
  parts_.emplace_back(std::move(choice));
  return *this;
}

Section& Section::table(Table table) {
  for (const auto& row : table.rows)
    if (row.size() != table.header.size())
      fail<InputError>("report section '{}': a table row has {} cells, the header {}", title_, row.size(), table.header.size());
  parts_.emplace_back(std::move(table));
  return *this;
}

Section& Document::section(std::string title) { return sections_.emplace_back(std::move(title)); }

std::vector<Figure> Document::figures() const {
  std::vector<Figure> out;
  for (const auto& s : sections_)
    for (const auto& part : s.parts_) {
      if (const auto* f = std::get_if<Figure>(&part)) out.push_back(*f);
      if (const auto* c = std::get_if<Choice>(&part))
        for (const auto& [label, f] : c->options) out.push_back(f);
    }
  return out;
}

std::string Document::str() const {
  std::set<std::string> names;
  for (const auto& f : figures())
    if (!names.insert(safe_name(f.name)).second) fail<InputError>("report: two figures are named '{}'", f.name);

  std::string out = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n", svg::escape(title_), kStyle);
  out += fmt::format("<script>//<![CDATA[{}//]]></script>\n</head>\n<body>\n", kErrorCatcher);
  out += fmt::format("<header><h1>{}</h1>\n<nav>", svg::escape(title_));
  for (std::size_t i = 0; i < sections_.size(); ++i) out += fmt::format("<a href=\"#section-{}\">{}</a>", i, svg::escape(sections_[i].title_));
  out += "</nav></header>\n";
  for (std::size_t i = 0; i < sections_.size(); ++i) {
    const auto& s = sections_[i];
    out += fmt::format("<section id=\"section-{}\">\n<h2>{}</h2>\n", i, svg::escape(s.title_));
    for (const auto& part : s.parts_) {
      if (const auto* p = std::get_if<Section::Paragraph>(&part)) out += "<p>" + svg::escape(p->text) + "</p>\n";
      else if (const auto* f = std::get_if<Figure>(&part)) out += figure_html(*f);
      else if (const auto* c = std::get_if<Choice>(&part)) out += choice_html(*c);
      else out += table_html(std::get<Table>(part));
    }
    out += "</section>\n";
  }
  out += fmt::format("<footer>Made by patchbay {}. Hover over cells, points, nodes and edges for their values.</footer>\n", library_version());
  out += fmt::format("<script>//<![CDATA[{}//]]></script>\n</body>\n</html>\n", kChoices);
  return out;
}

}  // namespace patchbay::html
