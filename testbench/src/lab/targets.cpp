// SPDX-License-Identifier: Apache-2.0
#include "lab/targets.h"

#include <cstdlib>
#include <exception>
#include <mutex>

#include "bench/sim_target.h"
#include "lightloop/rtl_bridge/board_driver.h"
#include "lightloop/runtime/fabric.h"

namespace lightloop::testbench::lab {
namespace {

TargetHealth CheckNic() {
  TargetHealth t{.name = "nic"};
  t.providers = runtime::AvailableProviders();
  t.healthy = !t.providers.empty();
  std::string names;
  for (const std::string& p : t.providers) names += (names.empty() ? "" : ", ") + p;
  t.detail = t.healthy ? "libfabric providers with RDM and RMA: " + names
                       : "fi_getinfo finds no provider with RDM and RMA (is FI_PROVIDER filtering?)";
  return t;
}

// The sim target: the provider library and the node file a scenario without
// targets.sim.config gets.
TargetHealth CheckSim() {
  TargetHealth t{.name = "sim"};
  auto dir = ProviderDir();
  if (!dir.ok()) {
    t.detail = dir.status().message();
    return t;
  }
  const std::string node = DefaultNodeConfig();
  try {
    (void)hw_models::ReadNode(node);
  } catch (const std::exception& e) {
    t.detail = std::string("default node file: ") + e.what();
    return t;
  }
  t.healthy = true;
  t.detail = "provider " + *dir + "/liblightloop-fi.so, default node " + node;
  return t;
}

TargetHealth CheckFpga(const TargetHealth& sim) {
  TargetHealth t{.name = "fpga"};
  const char* env = std::getenv("FI_LIGHTLOOP_BOARD");
  const std::string board = env != nullptr && *env != '\0' ? env : "virtual";
  if (!sim.healthy) {
    t.detail = "board " + board + ": " + sim.detail;
    return t;
  }
  if (env == nullptr || *env == '\0') {
    t.healthy = true;
    t.detail = "virtual board (Verilator; FI_LIGHTLOOP_BOARD is not set)";
    return t;
  }
  const std::string problem = rtl_bridge::BoardSpecProblem(board);
  t.healthy = problem.empty();
  t.detail = "FI_LIGHTLOOP_BOARD=" + board + (t.healthy ? "" : ": " + problem);
  return t;
}

}  // namespace

std::vector<TargetHealth> CheckTargets() {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::vector<TargetHealth> all;
  all.push_back({.name = "local", .healthy = true, .detail = "host memory (no fabric)"});
  all.push_back(CheckNic());
  all.push_back(CheckSim());
  all.push_back(CheckFpga(all.back()));
  return all;
}

}  // namespace lightloop::testbench::lab
