#pragma once
// Running a helper program (GraphViz's `dot`) without a shell: arguments are passed as they
// are (a path with a quote in it cannot break a command line), and SIGINT/SIGTERM still reach
// this process while the child runs (std::system ignores SIGINT in the caller). On such a
// signal the child is killed and waited for before the registered temporary files are removed,
// so it cannot write one after the cleanup.
#include <string>
#include <vector>

namespace patchbay {

// Runs argv[0] (looked up on PATH) with argv[1..], stdin, stdout and stderr on /dev/null, and
// waits for it. Returns its exit status, or -1 when it could not be started or was killed.
int run_program(const std::vector<std::string>& argv);

}  // namespace patchbay
