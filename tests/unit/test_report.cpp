// Reports: the page for result files made here parses as XML, every figure in it has data, the
// standalone SVGs match, the command line works, and a real browser (headless Chromium) renders
// it without script errors. Plus the pieces: escaping, charts and the page builder refuse bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <png.h>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/experiments/probe_text_results.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/probe/probe_text.hpp"
#include "patchbay/report/charts.hpp"
#include "patchbay/report/figures.hpp"
#include "patchbay/report/html.hpp"
#include "patchbay/report/report.hpp"
#include "patchbay/report/svg.hpp"

using namespace patchbay;

namespace {

// A small word-index run on stories260K and the counting circuit on its probe: the result files
// a user would report on.
struct Results {
  test::TempDir dir;
  std::string word_index, circuit, probe_text;
  WordIndexSplit val;            // the word-index run's validation split
  double val_accuracy = 0;       // of its layer-3 probe
};
std::unique_ptr<Results> make_results() {
  auto r = std::make_unique<Results>();
  auto model = load_model(test::models("stories260K"));
  auto wi = default_word_index_options(model);
  wi.data.train_points = 1400;
  wi.data.val_prompts = 100;
  wi.layers = {2, 3};
  wi.extract.progress = 0;
  r->word_index = r->dir / "probe.h5";
  const auto run = run_word_index_experiment(model, wi);
  write_word_index_results(r->word_index, false, model, wi, run);
  r->val = run.dataset.val;
  r->val_accuracy = run.layer(3).val.accuracy;
  auto probe = load_probe_for(model, r->word_index);
  // The probe on a paragraph of a story.
  auto text = probe_text(model, probe.probe, probe.layer, "Once upon a time, there was a little girl named Lily. She liked to play in the park.");
  text.probe = r->word_index;
  r->probe_text = r->dir / "text.h5";
  write_probe_text_results(r->probe_text, false, model, text);
  CountingCircuitOptions o;
  o.pairs = pair_options_for(probe);
  o.pairs.n_pairs = 4;
  o.head_score_prompts = 8;
  o.top_edges = 10;
  r->circuit = r->dir / "circuit.h5";
  write_counting_circuit(r->circuit, false, model, probe, o, run_counting_circuit(model, probe, o));
  return r;
}

// An XML document parsed with libxml2 (no network, no entity expansion), queried by XPath with
// the XHTML namespace as "h" and SVG as "s".
class Xml {
 public:
  explicit Xml(const std::string& text) {
    doc_ = xmlReadMemory(text.data(), static_cast<int>(text.size()), "report.xml", nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc_) {
      const auto* e = xmlGetLastError();
      error_ = e && e->message ? fmt::format("line {}: {}", e->line, e->message) : "unknown XML error";
      return;
    }
    context_ = xmlXPathNewContext(doc_);
    xmlXPathRegisterNs(context_, BAD_CAST "h", BAD_CAST "http://www.w3.org/1999/xhtml");
    xmlXPathRegisterNs(context_, BAD_CAST "s", BAD_CAST "http://www.w3.org/2000/svg");
  }
  ~Xml() {
    if (context_) xmlXPathFreeContext(context_);
    if (doc_) xmlFreeDoc(doc_);
  }
  Xml(const Xml&) = delete;
  Xml& operator=(const Xml&) = delete;
  bool ok() const { return doc_ != nullptr; }
  const std::string& error() const { return error_; }

  // Nodes matching `xpath`, relative to `node` (the document when null).
  std::vector<xmlNodePtr> nodes(const std::string& xpath, xmlNodePtr node = nullptr) const {
    context_->node = node ? node : xmlDocGetRootElement(doc_);
    xmlXPathObjectPtr found = xmlXPathEvalExpression(BAD_CAST xpath.c_str(), context_);
    std::vector<xmlNodePtr> out;
    if (found && found->nodesetval)
      for (int i = 0; i < found->nodesetval->nodeNr; ++i) out.push_back(found->nodesetval->nodeTab[i]);
    xmlXPathFreeObject(found);
    return out;
  }
  static std::string attribute(xmlNodePtr node, const char* name) {
    xmlChar* v = xmlGetProp(node, BAD_CAST name);
    std::string out = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return out;
  }
  static std::string text(xmlNodePtr node) {
    xmlChar* v = xmlNodeGetContent(node);
    std::string out = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return out;
  }

 private:
  xmlDocPtr doc_ = nullptr;
  xmlXPathContextPtr context_ = nullptr;
  std::string error_;
};

// What a figure draws: its data marks, and how many of their tooltips hold a finite number.
struct FigureData {
  std::size_t marks = 0, finite_tooltips = 0;
};
FigureData figure_data(const Xml& xml, xmlNodePtr figure) {
  FigureData d;
  static const std::regex number(R"((^|[^\w.])[-+]?\d+(\.\d+)?(e[-+]?\d+)?)");
  for (auto* mark : xml.nodes(".//s:*[@class='mark']", figure)) {
    ++d.marks;
    for (auto* title : xml.nodes("s:title", mark)) {
      const auto tip = Xml::text(title);
      const auto colon = tip.rfind(':');
      if (colon != std::string::npos && std::regex_search(tip.substr(colon), number) && tip.find("nan") == std::string::npos) ++d.finite_tooltips;
    }
  }
  return d;
}

// Decodes a PNG into RGB bytes.
struct Image {
  std::uint32_t width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};
Image read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Image out;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return out;
  image.format = PNG_FORMAT_RGB;
  out.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr)) return {};
  out.width = image.width;
  out.height = image.height;
  return out;
}

bool have_chromium() { return std::system("command -v chromium >/dev/null 2>&1") == 0; }

// Headless Chromium with a fresh profile, no network services, no GPU.
std::string chromium(const test::TempDir& profile, const std::string& args) {
  return "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking "
         "--disable-extensions --disable-sync --disable-default-apps --no-first-run --mute-audio --user-data-dir='" +
         profile.path.string() + "' --enable-logging=stderr --v=0 " + args;
}

}  // namespace

TEST_CASE("the report of a word-index run and its circuit is well-formed and every figure has data", "[report][e2e]") {
  auto results = make_results();
  const auto& dir = results->dir;

  // The experiment writers render the report beside their files.
  CHECK(std::filesystem::exists(dir / "probe_report.html"));
  CHECK(std::filesystem::exists(dir / "probe_key_plot.svg"));
  CHECK(std::filesystem::exists(dir / "circuit_report.html"));
  CHECK(std::filesystem::exists(dir / "circuit_graph.svg"));
  CHECK(std::filesystem::exists(dir / "text_report.html"));

  // The library calls behind probe-text: features of any tokens, predictions, and the probe's
  // accuracy under an intervention.
  {
    auto model = load_model(test::models("stories260K"));
    const auto probe = load_probe_for(model, results->word_index);
    CHECK(probe_accuracy(model, probe.probe, 3, results->val) == Approx(results->val_accuracy).margin(1e-12));
    // With the read-out zeroed every point gets the class of the largest bias.
    const Intervention erase{hook::resid_post(3), [](at::Tensor& act, HookId) { act = at::zeros_like(act); }};
    const auto constant = probe.probe.predict(at::zeros({1, model.config().d_model})).item<std::int64_t>();
    double share = 0;
    for (const auto& point : results->val.points) share += point.label == constant;
    CHECK(probe_accuracy(model, probe.probe, 3, results->val, {erase}) == Approx(share / results->val.points.size()).margin(1e-12));
    const double without_head = probe_accuracy(model, probe.probe, 3, results->val, {zero_head(0, 0)});
    CHECK((without_head >= 0 && without_head <= 1));
    const auto text = read_probe_text(H5Reader(results->probe_text));
    const auto tokens = at::tensor(text.tokens, at::kLong).unsqueeze(0);
    const auto features = token_features(model, tokens, 3);  // [1, pos, d_model]
    CHECK(at::equal(probe.probe.predict(features.squeeze(0)), text.predicted));
    CHECK(at::allclose(text.probabilities.sum(1), at::ones({static_cast<std::int64_t>(text.tokens.size())}), 1e-5, 1e-5));
    CHECK(text.tokens.front() == model.tokenizer().bos_id().value());
  }

  // The files explain themselves to an independent reader (h5py), by the names in docs/FORMAT.md.
  auto h5py = test::run_command(std::string(PATCHBAY_PYTHON) + " " + PATCHBAY_SOURCE_DIR + "/tests/python/check_result_files.py '" +
                                results->word_index + "' '" + results->circuit + "'");
  INFO(h5py.out << h5py.err);
  CHECK(h5py.exit_code == 0);
  CHECK_THAT(h5py.out, Catch::Contains("h5py checks: 0 failed"));

  // Both files in one page, through the command line.
  std::filesystem::create_directory(dir / "figures");
  auto cli = test::run_cli("report '" + results->word_index + "' '" + results->circuit + "' '" + results->probe_text + "' --out '" + (dir / "both.html") +
                           "' --svg-dir '" + (dir / "figures") + "' --json");
  INFO(cli.err);
  REQUIRE(cli.exit_code == 0);
  const auto written = nlohmann::json::parse(cli.out);
  const auto page = test::slurp(dir / "both.html");
  CHECK(page.find("http://") == page.find("http://www.w3.org"));  // no links out but the XML namespaces
  CHECK(page.find("<script src") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);

  Xml xml(page);
  INFO(xml.error());
  REQUIRE(xml.ok());
  CHECK(xml.nodes("/h:html/h:head/h:title").size() == 1);
  auto figures = xml.nodes("//h:figure");
  CHECK(figures.size() == written["figures"].size());
  std::map<std::string, FigureData> by_name;
  for (auto* f : figures) {
    const auto id = Xml::attribute(f, "id");
    const auto data = figure_data(xml, f);
    INFO("figure " << id);
    CHECK(xml.nodes("s:svg", f).size() == 1);
    CHECK(xml.nodes("h:figcaption", f).size() == 1);
    CHECK(data.marks > 0);            // not empty axes
    CHECK(data.finite_tooltips > 0);  // and the data are numbers
    by_name[id] = data;
  }
  // Every part the issue asks for, from both files ("file1_": the word-index run, "file2_": the circuit).
  for (const char* name : {"file1_layer_sweep", "file1_key_plot", "file1_key_plot_layer_2", "file1_key_plot_abs_position",
                           "file1_advantage_by_word", "file2_patching_z_layer_head_clean_into_corrupted",
                           "file2_patching_resid_pre_layer_position_clean_into_corrupted",
                           "file2_patching_z_layer_head_position_corrupted_into_clean", "file2_attribution_vs_patching",
                           "file2_ablation", "file2_direct_attribution", "file2_graph", "file2_faithfulness"})
    CHECK(by_name.count(std::string("fig-") + name) == 1);
  std::size_t attention = 0;
  for (const auto& [id, data] : by_name)
    if (id.starts_with("fig-file2_attention_")) {
      ++attention;
      CHECK(data.marks >= 10);  // every query row attends somewhere
    }
  CHECK(attention == 8);  // four heads on the clean and the corrupted prompt
  CHECK(by_name["fig-file2_graph"].marks >= 10 + 2);  // ten kept edges and their nodes
  CHECK(by_name["fig-file2_faithfulness"].finite_tooltips >= 5);
  // The probe on free text ("file3_"): one coloured box per token, each with its probabilities.
  const auto text = read_probe_text(H5Reader(results->probe_text));
  CHECK(by_name["fig-file3_probe_text"].marks == text.tokens.size());
  CHECK(by_name["fig-file3_probe_text"].finite_tooltips == text.tokens.size());

  // The standalone SVGs are the same figures, each a well-formed document on its own.
  for (const auto& path : written["figures"]) {
    INFO(path);
    Xml svg(test::slurp(path));
    CHECK(svg.ok());
    CHECK(svg.nodes("/s:svg").size() == 1);
  }
  CHECK(std::filesystem::exists(dir / "figures/file2_graph.svg"));

  // What cannot be reported is refused with the reason.
  auto missing = test::run_cli("report '" + (dir / "nope.h5") + "'");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("nope.h5"));
  auto bad_dir = test::run_cli("report '" + results->circuit + "' --svg-dir '" + (dir / "no/such/dir") + "'");
  CHECK(bad_dir.exit_code == 1);
  CHECK_THAT(bad_dir.err, Catch::Contains("is not a directory"));
}

TEST_CASE("headless Chromium renders the report without script errors", "[report][browser][e2e]") {
  if (!have_chromium()) PATCHBAY_SKIP_OPTIONAL_TOOL("Chromium is not installed (apt install chromium; the test command installs it)");
  auto results = make_results();
  const auto& dir = results->dir;
  const auto page = dir / "both.html";
  write_report(build_report({results->word_index, results->circuit, results->probe_text}), page, "", /*overwrite=*/true, {});
  const auto url = "file://" + page;

  // The DOM after scripts ran: the page marks itself ready and records no errors.
  test::TempDir profile_dom;
  auto dom = test::run_command(chromium(profile_dom, "--dump-dom '" + url + "'"));
  INFO(dom.err.substr(0, 2000));
  REQUIRE(dom.exit_code == 0);
  CHECK(dom.out.find("data-report-ready=\"") != std::string::npos);
  CHECK(dom.out.find("data-report-errors=\"") == std::string::npos);
  // Console messages from the page (errors, failed loads) are logged as CONSOLE lines.
  CHECK(dom.err.find(":CONSOLE") == std::string::npos);

  // A screenshot: the page rendered text and coloured figures, not a blank or error page.
  test::TempDir profile_shot;
  const auto png = dir / "shot.png";
  auto shot = test::run_command(chromium(profile_shot, "--window-size=1280,2400 --screenshot='" + png + "' '" + url + "'"));
  INFO(shot.err.substr(0, 2000));
  REQUIRE(shot.exit_code == 0);
  const auto image = read_png(png);
  REQUIRE(image.width == 1280);
  REQUIRE(image.height == 2400);
  std::size_t non_white = 0, coloured = 0;
  for (std::size_t i = 0; i + 2 < image.rgb.size(); i += 3) {
    const int r = image.rgb[i], g = image.rgb[i + 1], b = image.rgb[i + 2];
    non_white += (r < 240 || g < 240 || b < 240);
    coloured += (std::abs(r - g) > 40 || std::abs(g - b) > 40 || std::abs(r - b) > 40);
  }
  const double pixels = static_cast<double>(image.width) * image.height;
  CHECK(non_white / pixels > 0.02);   // text, axes and figures
  CHECK(coloured / pixels > 0.002);   // the figures' colours (bars, lines, cells)
}

TEST_CASE("report text is escaped into well-formed XML whatever it holds", "[report]") {
  // Markup, quotes, control characters and bytes that are not UTF-8 (half a character, an
  // overlong form, a surrogate) all come out as well-formed text.
  const std::string hostile = "<b>&\"'\x01\xe2\x82 \xc0\xaf \xed\xa0\x80 ok \xe2\x82\xac";
  const auto escaped = svg::escape(hostile);
  CHECK(escaped == "&lt;b&gt;&amp;&quot;&apos;\\x01\\xe2\\x82 \\xc0\\xaf \\xed\\xa0\\x80 ok \xe2\x82\xac");
  html::Document doc(hostile);
  doc.section(hostile)
      .paragraph(hostile)
      .table({.header = {hostile, "v"}, .rows = {{hostile, hostile}}})
      .figure({.name = hostile, .caption = hostile,
               .svg = heatmap_svg(at::tensor({1.0, -2.0}).view({1, 2}), {hostile}, {hostile, "x"}, hostile, hostile, hostile)});
  Xml xml(doc.str());
  INFO(xml.error());
  CHECK(xml.ok());
  CHECK(html::safe_name(hostile).find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos);
}

TEST_CASE("figures and pages refuse what they cannot draw", "[report][errors]") {
  CHECK_THROWS_WITH(line_chart_svg({.title = "empty", .series = {{.name = "s", .x = {1, 2}, .y = {NAN, INFINITY}}}}),
                    Catch::Contains("chart 'empty' has no finite data point"));
  CHECK_THROWS_WITH(line_chart_svg({.title = "ragged", .series = {{.name = "s", .x = {1, 2}, .y = {1}}}}),
                    Catch::Contains("has 2 x and 1 y values"));
  CHECK_THROWS_WITH(heatmap_svg(at::zeros({2, 3}), {"a"}, {"x", "y", "z"}, "h", "r", "c"),
                    Catch::Contains("do not match 1 row and 3 column labels"));
  CHECK_THROWS_WITH(attention_svg(at::zeros({3, 3}), {"a", "b"}, "att"), Catch::Contains("does not match 2 tokens"));
  html::Document doc("t");
  CHECK_THROWS_WITH(doc.section("s").choice({.label = "nothing"}), Catch::Contains("choice 'nothing' has no options"));
  CHECK_THROWS_WITH(doc.section("s").table({.header = {"a", "b"}, .rows = {{"1"}}}), Catch::Contains("a table row has 1 cells, the header 2"));
  const auto svg = heatmap_svg(at::ones({1, 1}), {"r"}, {"c"}, "h", "r", "c");
  doc.section("twice").figure({.name = "same", .svg = svg}).figure({.name = "same", .svg = svg});
  CHECK_THROWS_WITH(doc.str(), Catch::Contains("two figures are named 'same'"));
  CHECK_THROWS_WITH(build_report({}), Catch::Contains("no result files given"));
}

TEST_CASE("charts place what they are given: log axes, references, NaN cells", "[report]") {
  // A NaN in a heatmap is drawn white and does not spoil the colour scale of the others.
  const auto svg = heatmap_svg(at::tensor({NAN, 2.0, -1.0}, at::kDouble).view({1, 3}), {"r"}, {"a", "b", "c"}, "h", "r", "c");
  CHECK(svg.find("fill=\"#ffffff\" stroke=\"#ffffff\"") != std::string::npos);  // the NaN cell
  CHECK(svg.find(diverging_colour(1.0)) != std::string::npos);                  // 2.0 is the top of the scale
  CHECK(svg.find(diverging_colour(-0.5)) != std::string::npos);                 // -1.0 is half of it
  // A log axis with a non-positive x skips that point rather than failing or drawing NaN.
  const auto chart = line_chart_svg({.title = "log", .series = {{.name = "s", .x = {0, 1, 4}, .y = {1, 2, 3}}}, .log_x = true});
  CHECK(chart.find("nan") == std::string::npos);
  CHECK(Xml(chart).nodes("//s:circle[@class='mark']").size() == 2);
}
