#pragma once
// Warnings the library raises about results that are computed but questionable (a metric that
// does not separate clean from corrupted prompts): one channel, printed as "warning: ..." on
// stderr unless a driver installs its own handler.
#include <functional>
#include <string>

namespace patchbay {

using WarningHandler = std::function<void(const std::string& message)>;

void warn(const std::string& message);
// Replaces the handler (an empty one restores printing to stderr); returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);

}  // namespace patchbay
