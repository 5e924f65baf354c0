// Catch2 entry point; libtorch runs on every core for the suite.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "patchbay/core/runtime.hpp"

int main(int argc, char** argv) {
  patchbay::configure_threads(0);
  return Catch::Session().run(argc, argv);
}
