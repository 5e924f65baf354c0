#pragma once
// Runs the built `patchbay` binary in a shell and captures its exit code, stdout and stderr.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace patchbay::test {

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh, empty directory under the system temp dir, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "patchbay-test-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Runs a shell command line (quoted as for bash) with `stdin_text` as its input.
inline CliResult run_command(const std::string& command, const std::string& stdin_text = "") {
  TempDir dir;
  std::ofstream(dir / "in") << stdin_text;
  std::string cmd = "(" + command + ") < '" + (dir / "in") + "' > '" + (dir / "out") + "' 2> '" + (dir / "err") + "'";
  int status = std::system(cmd.c_str());
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, slurp(dir / "out"), slurp(dir / "err")};
}

// `args` is appended to the binary path verbatim (quote it as for bash).
inline CliResult run_cli(const std::string& args, const std::string& stdin_text = "") {
  return run_command(std::string(PATCHBAY_CLI) + " " + args, stdin_text);
}

}  // namespace patchbay::test
