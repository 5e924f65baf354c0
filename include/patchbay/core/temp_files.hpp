#pragma once
// Temporary files that must not outlive an interrupted run. Writers register their temporary
// path while it exists; on SIGINT or SIGTERM the handler unlinks every registered path and then
// lets the signal take its default action. (SIGKILL cannot be caught: its temporary files keep
// their temporary names, so a final name never holds a partial result either way.)
#include <string>

namespace patchbay {

// Installs the SIGINT/SIGTERM handler (idempotent). Command-line entry points call it.
void install_interrupt_cleanup();

// Registers `path` for deletion on interruption; returns a slot for unregister_temp_file.
int register_temp_file(const std::string& path);
void unregister_temp_file(int slot);

// A child process (run_program's) that the handler kills and reaps before removing the
// temporary files, so it cannot write one of them after the cleanup.
void register_child(int pid);
void unregister_child(int pid);

}  // namespace patchbay
