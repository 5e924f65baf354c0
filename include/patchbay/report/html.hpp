#pragma once
// A self-contained HTML report: sections of paragraphs, inline SVG figures, figure choices
// (one shown at a time, picked from a list) and tables. The output is polyglot XHTML5 (it
// parses as XML too), with inline CSS and a few lines of plain JavaScript for the choices; it
// loads nothing from the network.
#include <deque>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace patchbay::html {

struct Figure {
  std::string name;     // file-safe identifier: the standalone SVG's file name and the element id
  std::string caption;  // what the figure shows and how to read it
  std::string svg;      // a standalone <svg> document
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Choice {
  std::string label;                                 // e.g. "layer"
  std::vector<std::pair<std::string, Figure>> options;  // (option label, figure); the first shows first
};

class Section {
 public:
  explicit Section(std::string title) : title_(std::move(title)) {}
  Section& paragraph(std::string text);
  Section& figure(Figure figure);
  Section& choice(Choice choice);  // throws InputError when it has no options
  Section& table(Table table);     // throws InputError when a row's width differs from the header's
  const std::string& title() const { return title_; }

 private:
  friend class Document;
  struct Paragraph {
    std::string text;
  };
  std::string title_;
  std::vector<std::variant<Paragraph, Figure, Choice, Table>> parts_;
};

class Document {
 public:
  explicit Document(std::string title) : title_(std::move(title)) {}
  Section& section(std::string title);
  // The whole page. Throws InputError when two figures share a name.
  std::string str() const;
  // Every figure, including each option of every choice, in page order.
  std::vector<Figure> figures() const;

 private:
  std::string title_;
  std::deque<Section> sections_;  // a deque: references returned by section() stay valid
};

// A name safe as a file name and an element id: [A-Za-z0-9_-], other characters become '_'.
std::string safe_name(const std::string& text);

}  // namespace patchbay::html
