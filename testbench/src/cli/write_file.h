// SPDX-License-Identifier: Apache-2.0
// Writing results without leaving half-written files, and size flags: used by
// the commands and by the runners they call. Free of CLI11 (see commands.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

// Writes `text` to `path` through a temporary file, so no half-written file is left.
runtime::Status WriteFileAtomically(const std::string& path, const std::string& text);

// With a non-empty `path`, writes `json` there atomically and says so.
runtime::Status WriteJsonIfAsked(const std::string& path, const nlohmann::json& json);

// Parses a size flag's text, naming the flag in the error.
runtime::StatusOr<uint64_t> ParseSizeFlag(const std::string& flag, const std::string& text);

}  // namespace lightloop::testbench
