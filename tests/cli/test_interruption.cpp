// Interrupted runs: SIGKILL leaves nothing under the final name and --resume gives the same
// result as an uninterrupted run; SIGTERM also removes the temporary files.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include <ATen/ATen.h>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/core/subprocess.hpp"
#include "patchbay/core/temp_files.hpp"
#include "patchbay/io/h5_reader.hpp"

using namespace patchbay;

namespace {
const std::string kArgs =
    " --layers all --train-points 3000 --val-prompts 300 --tol 1e-9 --max-iter 300 --seed 4 --threads 2";

// Starts `patchbay args` in the background (its stderr in dir/err) and returns its pid.
pid_t start(const std::string& args, const test::TempDir& dir) {
  const auto pidfile = dir / "pid";
  std::system((std::string(PATCHBAY_CLI) + " " + args + " >/dev/null 2>'" + (dir / "err") + "' & echo $! > '" + pidfile + "'").c_str());
  return static_cast<pid_t>(std::stol(test::slurp(pidfile)));
}

bool wait_for(const std::function<bool()>& condition, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Files being written (".tmp-" names). Files may vanish while the directory is listed.
std::vector<std::string> temp_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec))
    if (it->path().filename().string().find(".tmp-") != std::string::npos) out.push_back(it->path().string());
  return out;
}

bool running(pid_t pid) { return ::kill(pid, 0) == 0; }

// Every dataset of two result files is equal: tensors bit for bit, string lists exactly.
void check_same_datasets(const std::string& expected, const std::string& actual) {
  H5Reader a(expected), b(actual);
  const auto names = a.datasets();
  CHECK(names == b.datasets());
  for (const auto& name : names) {
    INFO(name);
    at::Tensor x, y;
    try {
      x = a.read_tensor(name);
      y = b.read_tensor(name);
    } catch (const std::exception&) {  // a list of strings
      CHECK(a.read_strings(name) == b.read_strings(name));
      continue;
    }
    CHECK(at::equal(x, y));
  }
}

// Runs `command` (which takes --out) to completion, then again killed with SIGKILL once its
// checkpoint holds k of its `stages` stage files, k drawn at random, and resumes it: no result
// may exist after the kill, and the resumed result must equal the uninterrupted one.
void kill_at_random_stage_and_resume(const std::string& command, int stages, const test::TempDir& dir) {
  auto full = test::run_cli(command + " --out '" + (dir / "full.h5") + "'");
  INFO(full.err);
  REQUIRE(full.exit_code == 0);
  std::random_device entropy;
  const auto k = std::uniform_int_distribution<int>(1, stages)(entropy);
  INFO("killed once " << k << " of " << stages << " stages were checkpointed");
  const auto checkpoint = dir.path / ".run.h5.checkpoint";
  auto stages_done = [&] {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator(checkpoint, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      n += it->path().extension() == ".h5" && it->path().filename().string().find(".tmp-") == std::string::npos;
    return n;
  };
  const pid_t pid = start(command + " --out '" + (dir / "run.h5") + "'", dir);
  const bool reached = wait_for([&] { return stages_done() >= k; }, 300);
  ::kill(pid, SIGKILL);
  REQUIRE(reached);
  wait_for([&] { return !running(pid); }, 10);
  CHECK_FALSE(test::have(dir / "run.h5"));
  auto resumed = test::run_cli(command + " --out '" + (dir / "run.h5") + "' --resume");
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(checkpoint));
  check_same_datasets(dir / "full.h5", dir / "run.h5");
  CHECK(temp_files(dir.path).empty());
}
}  // namespace

TEST_CASE("discover and patch killed with SIGKILL at a random stage resume to the uninterrupted result", "[robustness][interrupt][e2e]") {
  test::TempDir dir;
  const auto model = " --model '" + test::models("stories260K") + "' --threads 2";
  const auto probe = test::run_cli("word-index" + model + " --layers 3 --train-points 700 --val-prompts 40 --out '" + (dir / "probe.h5") + "'");
  REQUIRE(probe.exit_code == 0);
  SECTION("discover: 18 patching sweeps, then the edge scores") {
    kill_at_random_stage_and_resume("discover" + model + " --probe '" + (dir / "probe.h5") + "' --pairs 6 --method eap --seed 3", 19, dir);
  }
  SECTION("patch: 4 patching sweeps, then the edge scores") {
    std::ofstream(dir / "pairs.jsonl") << R"({"clean": "Lily went to the park. Then Lily", "corrupted": "Lily went to the park. Then she", "correct_id": 263, "incorrect_id": 295}
{"clean": "Lily went to the park. Then he", "corrupted": "Lily went to the park. Then she", "correct_id": 263, "incorrect_id": 295}
)";
    kill_at_random_stage_and_resume("patch" + model + " --pairs '" + (dir / "pairs.jsonl") + "' --sweeps z_layer_head,resid_pre_layer_position --graph eap", 5, dir);
  }
}

TEST_CASE("a sweep killed with SIGKILL leaves no result and resumes to the uninterrupted result", "[robustness][interrupt][e2e]") {
  test::TempDir dir;
  const auto model = " word-index --model '" + test::models("stories260K") + "'";
  auto full = test::run_cli(model + kArgs + " --out '" + (dir / "full.h5") + "'");
  REQUIRE(full.exit_code == 0);

  const auto checkpoint = dir.path / ".run.h5.checkpoint";
  const pid_t pid = start(model + kArgs + " --out '" + (dir / "run.h5") + "'", dir);
  const bool some_layer_done = wait_for([&] { return std::filesystem::exists(checkpoint / "layer_embed.h5"); }, 120);
  ::kill(pid, SIGKILL);
  REQUIRE(some_layer_done);
  wait_for([&] { return ::kill(pid, 0) != 0; }, 10);
  CHECK_FALSE(test::have(dir / "run.h5"));                          // nothing under the final name
  CHECK_FALSE(test::have(checkpoint / "layer_4.h5"));               // it really stopped part-way
  auto refused = test::run_cli(model + kArgs + " --out '" + (dir / "run.h5") + "'");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("pass --resume to continue it"));

  auto resumed = test::run_cli(model + kArgs + " --out '" + (dir / "run.h5") + "' --resume");
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(checkpoint));  // removed once the result is complete
  H5Reader a(dir / "full.h5"), b(dir / "run.h5");
  for (const char* layer : {"embed", "0", "1", "2", "3", "4"}) {
    INFO("layer " << layer);
    for (const char* what : {"probe/W", "probe/b", "control/W", "val/cells", "val/accuracy"}) {
      const auto name = std::string("layers/") + layer + "/" + what;
      CHECK(at::equal(a.read_tensor(name), b.read_tensor(name)));
    }
  }
  CHECK(temp_files(dir.path).empty());
}

TEST_CASE("SIGTERM removes temporary files and leaves no result", "[robustness][interrupt]") {
  test::TempDir dir;
  // Long enough (it is stopped early) that it is still running when the second run has started.
  const auto args = " --layers all --train-points 60000 --val-prompts 2000 --seed 4 --threads 2";
  const pid_t pid = start(" word-index --model '" + test::models("stories260K") + "'" + args + " --out '" + (dir / "run.h5") + "'", dir);
  // Interrupt while a temporary file is open (the features, or a layer's checkpoint).
  const bool writing = wait_for([&] { return !temp_files(dir.path).empty() || !running(pid); }, 120) && running(pid);
  // A second run on the same result while this one works is told so, --resume or not, and
  // leaves the first one alone.
  auto second = test::run_cli(" word-index --model '" + test::models("stories260K") + "'" + args + " --out '" + (dir / "run.h5") + "' --resume");
  const bool still_running = running(pid);
  ::kill(pid, SIGTERM);
  INFO("stderr of the run: " << test::slurp(dir / "err"));
  REQUIRE(writing);
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("another run (pid " + std::to_string(pid) + ") is writing"));
  CHECK(still_running);
  wait_for([&] { return ::kill(pid, 0) != 0; }, 10);
  CHECK_FALSE(test::have(dir / "run.h5"));
  CHECK(temp_files(dir.path).empty());
}

TEST_CASE("a helper program does not shield the run from SIGINT, and is stopped before the cleanup", "[robustness][interrupt]") {
  // A forked copy of this process runs `sleep 30` through run_program (as the report runs
  // GraphViz) with a temporary file registered. SIGINT must end it at once (std::system ignored
  // SIGINT for the child's whole run) and remove the file.
  test::TempDir dir;
  const auto temp = dir / "figure.svg.tmp-1";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    install_interrupt_cleanup();
    std::ofstream(temp) << "partial";
    register_temp_file(temp);
    run_program({"sleep", "30"});
    ::_exit(0);  // reached only if the signal was ignored
  }
  REQUIRE(wait_for([&] { return test::have(temp); }, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // inside run_program by now
  const auto sent = std::chrono::steady_clock::now();
  ::kill(child, SIGINT);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(10));
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGINT);
  CHECK_FALSE(test::have(temp));
  CHECK(run_program({"true"}) == 0);
  CHECK(run_program({"false"}) == 1);
  CHECK(run_program({"/nonexistent/program"}) == -1);
}
