#pragma once
// Where a run may write a file, checked before any work: a run never computes for an hour and
// then finds it cannot write, and never replaces what it should not. Every writer (H5Writer,
// write_file_atomic's callers, the CLI's result paths) checks through here.
#include <span>
#include <string>

namespace patchbay {

// Throws InputError naming `path` and what was expected when: it is empty; its directory is
// missing, not a directory or not writable (with errno's text); it exists and is not a regular
// file (a directory, FIFO, device, socket, or a symlink to one or to nothing), whatever
// `overwrite` says; it is the same file as one of `inputs`. Throws ExistsError when it is an
// existing regular file and `overwrite` is false.
void check_output_path(const std::string& path, bool overwrite, std::span<const std::string> inputs = {});

}  // namespace patchbay
