// Hostile command lines, outputs and disks (#17): every case exits 1 or 2 with one line naming
// what was wrong and what was expected, crashes nothing, leaves no temporary file, changes no
// input and writes no result.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/io/h5_writer.hpp"

using namespace patchbay;
using test::run_cli;

namespace {
const std::string kStories = " --model '" + test::models("stories260K") + "'";
const std::string kSmallRun = " --train-points 300 --val-prompts 30 --layers 1 --threads 1";

std::size_t lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

// Everything in `dir` (recursively, hidden names too), for "nothing was left behind".
std::vector<std::string> listing(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A failure as #17 wants it: `code` and one error line holding every one of `needles`. A
// runtime failure (1) prints only that line; a usage error (2) prints the usage before it.
void check_refusal(const test::CliResult& r, int code, std::initializer_list<const char*> needles) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  if (code == 1) CHECK(lines(r.err) == 1);
  const auto body = r.err.substr(0, r.err.size() - (r.err.ends_with('\n') ? 1 : 0));
  const auto last_line = body.substr(body.rfind('\n') == std::string::npos ? 0 : body.rfind('\n') + 1);
  CHECK(last_line.starts_with("error: "));
  for (const char* needle : needles) CHECK_THAT(last_line, Catch::Contains(needle));
}

// Runs `args` with writes limited to `kib` KiB per file (RLIMIT_FSIZE; SIGXFSZ ignored, so a write
// past it fails with EFBIG as a full disk fails with ENOSPC): a full disk without root or a mount.
test::CliResult run_with_file_limit(const std::string& args, int kib) {
  return test::run_command("ulimit -f " + std::to_string(kib) + "; trap '' XFSZ; " + PATCHBAY_CLI + " " + args);
}
}  // namespace

TEST_CASE("arguments: unknown commands, empty values and out-of-range numbers are named", "[cli][hostile]") {
  check_refusal(run_cli("frobnicate --x 1"), 2, {"unknown command 'frobnicate'", "word-index", "discover"});
  for (const char* option : {"--out", "--word-lengths", "--prefix-text", "--layers"})
    check_refusal(run_cli(std::string("word-index ") + option + " ''"), 2, {option, "empty"});
  check_refusal(run_cli("discover --probe x.h5 --clean-split ''"), 2, {"--clean-split", "empty"});
  check_refusal(run_cli("discover --probe x.h5 --probe-layer ''"), 2, {"--probe-layer", "empty"});
  for (const char* value : {"0", "nan", "inf", "-1"}) check_refusal(run_cli(std::string("word-index --C ") + value), 2, {"--C", "positive"});
  check_refusal(run_cli("word-index --train-points 0"), 2, {"--train-points", "must be a positive number"});
  check_refusal(run_cli("inspect x.h5 --top 0"), 2, {"--top", "must be a positive number"});
  check_refusal(run_cli("word-index --seed -1"), 2, {"--seed", "whole number >= 0", "'-1'"});
  check_refusal(run_cli("--threads -1 models"), 2, {"--threads", "whole number >= 0"});
  {
    // 10^9 points: terabytes of features, refused before the dataset is built (no checkpoint left).
    test::TempDir dir;
    check_refusal(run_cli("word-index" + kStories + " --train-points 1000000000 --out '" + (dir / "w.h5") + "'"), 1,
                  {"1000000000 training points", "need at least", "GiB available", "fewer points"});
    CHECK(listing(dir.path).empty());
  }
  auto many = run_cli("--threads 100000 models");
  CHECK(many.exit_code == 0);
  CHECK_THAT(many.err, Catch::Contains("100000 compute threads asked for") && Catch::Contains("hardware threads; using"));
}

TEST_CASE("outputs: inputs, special files, links and existing reports are never overwritten", "[cli][hostile]") {
  test::TempDir dir;
  auto run = run_cli("word-index" + kStories + kSmallRun + " --out '" + (dir / "w.h5") + "'");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const auto result = test::slurp(dir / "w.h5");
  const auto before = listing(dir.path);

  check_refusal(run_cli("report '" + (dir / "w.h5") + "' --out '" + (dir / "w.h5") + "' --force"), 1, {"also an input of this run"});
  check_refusal(run_cli("report '" + (dir / "w.h5") + "' --out '" + (dir / "w_report.html") + "'"), 1, {"already exists", "--force"});
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  std::filesystem::create_symlink(dir / "nowhere", dir / "dangling");
  std::filesystem::create_directory(dir / "folder");
  for (const auto& [name, kind] : {std::pair{"fifo", "a FIFO"}, {"dangling", "a symlink to nothing"}, {"folder", "a directory"}}) {
    check_refusal(run_cli("report '" + (dir / "w.h5") + "' --out '" + (dir / name) + "' --force"), 1, {name, kind, "not a regular file"});
    check_refusal(run_cli("cache" + kStories + " --ids '1 2' --out '" + (dir / name) + "' --force"), 1, {name, kind});
  }
  check_refusal(run_cli("word-index" + kStories + kSmallRun + " --out '" + (dir / "missing/w.h5") + "'"), 1, {"does not exist"});
  // A figure path that cannot be written is found before the page is: no page is left.
  std::filesystem::create_directories(dir / "svg/layer_sweep.svg");
  check_refusal(run_cli("report '" + (dir / "w.h5") + "' --out '" + (dir / "r.html") + "' --svg-dir '" + (dir / "svg") + "'"), 1,
                {"layer_sweep.svg", "a directory"});
  CHECK_FALSE(test::have(dir / "r.html"));

  std::filesystem::remove_all(dir / "svg");
  std::filesystem::remove_all(dir / "folder");
  std::filesystem::remove(dir / "fifo");
  std::filesystem::remove(dir / "dangling");
  CHECK(listing(dir.path) == before);          // nothing added, no temporary file
  CHECK(test::slurp(dir / "w.h5") == result);  // the input unchanged
}

TEST_CASE("a full disk is an error naming the file and the cause, with every temporary file removed", "[cli][hostile]") {
  test::TempDir dir;
  // 64 KiB per file: the word-index result (~400 KiB) and the activation cache (~200 KiB) do not fit.
  for (const auto& [command, name] : {std::pair{"word-index" + kStories + kSmallRun, "w.h5"},
                                      {"cache" + kStories + " --ids '1 2 3'", "c.h5"}}) {
    auto r = run_with_file_limit(command + " --out '" + (dir / name) + "'", 64);
    check_refusal(r, 1, {name, "failed", "File too large"});
    CHECK(listing(dir.path).empty());  // no result, no temporary file, no checkpoint
  }
}

TEST_CASE("a probe file with a missing summary or non-finite weights is refused before any work", "[cli][hostile]") {
  test::TempDir dir;
  auto run = run_cli("word-index" + kStories + kSmallRun + " --out '" + (dir / "w.h5") + "'");
  REQUIRE(run.exit_code == 0);
  const auto python = std::string(PATCHBAY_PYTHON) + " -c ";
  const auto copy_with = [&](const std::string& name, const std::string& change) {
    std::filesystem::copy_file(dir / "w.h5", dir / name);
    auto r = test::run_command(python + "\"import h5py, numpy; f = h5py.File('" + (dir / name) + "', 'a'); " + change + "\"");
    REQUIRE(r.exit_code == 0);
    return dir / name;
  };
  const auto discover = [&](const std::string& probe) {
    return run_cli("discover" + kStories + " --probe '" + probe + "' --pairs 2 --out '" + (dir / "d.h5") + "'");
  };
  check_refusal(discover(copy_with("no_summary.h5", "del f.attrs['summary']")), 1, {"no_summary.h5", "'summary' is missing"});
  check_refusal(discover(copy_with("layer_array.h5", "import json; s = json.loads(f.attrs['summary']); s['main_layer'] = [1]; "
                                                     "f.attrs['summary'] = json.dumps(s)")),
                1, {"layer_array.h5", "main_layer", "array", "expected a string"});
  check_refusal(discover(copy_with("nan_w.h5", "w = f['layers/1/probe/W']; w[0, 0] = numpy.nan")), 1, {"nan_w.h5", "W", "non-finite"});
  check_refusal(discover(copy_with("big_b.h5", "b = f['layers/1/probe/b']; b[0] = 3e38")), 1, {"big_b.h5", "b", "huge"});
  check_refusal(discover(copy_with("wide_b.h5", "del f['layers/1/probe/b']; f['layers/1/probe/b'] = numpy.zeros(3, 'f4')")), 1,
                {"wide_b.h5", "b [3]", "expected float32 W [features, classes]"});
  for (const char* split : {"0,4", "-1,5"})
    check_refusal(run_cli("discover" + kStories + " --probe '" + (dir / "w.h5") + "' --clean-split " + split + " --out '" + (dir / "d.h5") + "'"),
                  1, {"--clean-split", "at least 1"});
  CHECK_FALSE(test::have(dir / "d.h5"));
  CHECK_FALSE(test::have(dir / ".d.h5.checkpoint"));
}

TEST_CASE("text from result files is escaped on the terminal and valid in JSON", "[cli][hostile]") {
  test::TempDir dir;
  {
    H5Writer out(dir / "evil.h5", false);
    out.write_attribute("kind", "\x1b[2J\x1b[31mred \xff\xfe");
    out.write_attribute("summary", "{\"note\": \"\\u001b[1m\"}");
    out.commit();
  }
  auto text = run_cli("inspect '" + (dir / "evil.h5") + "'");
  INFO(text.err);
  CHECK(text.exit_code == 0);
  CHECK(text.out.find('\x1b') == std::string::npos);
  CHECK_THAT(text.out, Catch::Contains("\\x1b[2J") && Catch::Contains("red \\xff\\xfe"));
  auto json = run_cli("inspect '" + (dir / "evil.h5") + "' --json");
  CHECK(json.exit_code == 0);
  CHECK(nlohmann::json::parse(json.out)["kind"] == "\x1b[2J\x1b[31mred \xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD for each bad byte
  auto tokenize = run_cli("tokenize" + kStories, "\x1b[2J\xff\n");
  CHECK(tokenize.exit_code == 1);
  CHECK(tokenize.err.find('\x1b') == std::string::npos);
  CHECK_THAT(tokenize.err, Catch::Contains("\\x1b[2J\\xff"));
}
