// SPDX-License-Identifier: Apache-2.0
// "host:port" and "[v6]:port" control-plane addresses.
#pragma once

#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

StatusOr<HostPort> ParseHostPort(const std::string& text);
// Why binding TCP `hp` fails right now ("Address already in use"), or "" if it would not.
std::string ProbeBind(const HostPort& hp);

}  // namespace lightloop::runtime
