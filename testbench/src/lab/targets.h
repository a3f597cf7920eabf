// SPDX-License-Identifier: Apache-2.0
// What the lab service says about each target (ListTargets): whether a run
// on it can start on this machine, and what was checked to decide.
#pragma once

#include <string>
#include <vector>

namespace lightloop::testbench::lab {

struct TargetHealth {
  std::string name;  // local | nic | sim | fpga
  bool healthy = false;
  std::string detail;
  std::vector<std::string> providers;  // nic: the libfabric providers found
};

// Checks local (host memory), nic (libfabric providers with RDM and RMA),
// sim (the lightloop provider and the default node file) and fpga (the
// board FI_LIGHTLOOP_BOARD names, else the virtual board). Cheap enough to
// call per request; calls are serialized (fi_getinfo and the node reader).
std::vector<TargetHealth> CheckTargets();

}  // namespace lightloop::testbench::lab
