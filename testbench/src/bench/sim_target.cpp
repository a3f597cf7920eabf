// SPDX-License-Identifier: Apache-2.0
#include "bench/sim_target.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>

#include "lightloop/hw_models/link/photonic_link.h"
#include "lightloop/rtl_bridge/board/virtual_board.h"
#include "lightloop/rtl_bridge/board_driver.h"

namespace lightloop::testbench {
namespace fs = std::filesystem;
namespace {

constexpr const char* kProviderFile = "liblightloop-fi.so";

std::string ResolveConfig(const std::string& config) {
  if (!config.empty()) return config;
  if (const char* env = std::getenv("FI_LIGHTLOOP_CONFIG"); env != nullptr && *env != '\0') return env;
  return LIGHTLOOP_DEFAULT_NODE_CONFIG;
}

// FI_PROVIDER_PATH with `dir` first, the caller's own directories kept.
std::string WithProviderDir(const std::string& dir) {
  const char* old = std::getenv("FI_PROVIDER_PATH");
  if (old == nullptr || *old == '\0') return dir;
  return dir + ":" + old;
}

}  // namespace

runtime::StatusOr<std::string> ProviderDir() {
  std::error_code ec;
  if (fs::exists(fs::path(LIGHTLOOP_FI_DIR) / kProviderFile, ec)) return std::string(LIGHTLOOP_FI_DIR);
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path beside = exe.parent_path().parent_path() / "lib";
  if (!ec && fs::exists(beside / kProviderFile, ec)) return beside.string();
  return runtime::FailedPrecondition(std::string("the lightloop provider (") + kProviderFile +
                                     ") is neither in " + LIGHTLOOP_FI_DIR + " nor in " + beside.string() +
                                     "; build it: cmake --build build --target lightloop_fi");
}

std::string DefaultNodeConfig() {
  return ResolveConfig("");
}

runtime::StatusOr<SimTarget> PrepareSimTarget(const std::string& config) {
  SimTarget sim;
  sim.config = fs::absolute(ResolveConfig(config)).string();
  try {
    sim.node = hw_models::ReadNode(sim.config);
  } catch (const std::exception& e) {
    return runtime::InvalidArgument(std::string("--config: ") + e.what());
  }
  if (sim.node.link == nullptr || sim.node.link->photonic() == nullptr) {
    return runtime::InvalidArgument("--config: " + sim.config +
                                    ": the link model has no closed form; the sim target needs one");
  }
  LL_ASSIGN_OR_RETURN(std::string dir, ProviderDir());
  setenv("FI_PROVIDER_PATH", WithProviderDir(dir).c_str(), 1);
  setenv("FI_LIGHTLOOP_CONFIG", sim.config.c_str(), 1);
  return sim;
}

runtime::StatusOr<SimTarget> PrepareFpgaTarget(const std::string& config, const std::string& board) {
  LL_ASSIGN_OR_RETURN(SimTarget t, PrepareSimTarget(config));
  const char* env = std::getenv("FI_LIGHTLOOP_BOARD");
  t.board = !board.empty() ? board : env != nullptr && *env != '\0' ? env : "virtual";
  if (std::string problem = rtl_bridge::BoardSpecProblem(t.board); !problem.empty()) {
    return runtime::InvalidArgument("board `" + t.board + "` (--board or FI_LIGHTLOOP_BOARD): " + problem);
  }
  setenv("FI_LIGHTLOOP_BOARD", t.board.c_str(), 1);
  return t;
}

bool InProcessTarget(const std::string& target) {
  return target == "sim" || target == "fpga";
}

runtime::StatusOr<std::optional<SimTarget>> PrepareInProcessTarget(const std::string& target,
                                                                   const std::string& config,
                                                                   const std::string& board) {
  std::optional<SimTarget> t;
  if (target == "sim") {
    LL_ASSIGN_OR_RETURN(t, PrepareSimTarget(config));
  } else if (target == "fpga") {
    LL_ASSIGN_OR_RETURN(t, PrepareFpgaTarget(config, board));
  }
  return t;
}

namespace {
constexpr double kBoardBytesPerCycle = 8;
}  // namespace

double BoardIdealGbps() {
  return kBoardBytesPerCycle * rtl_bridge::VirtualBoardConfig{}.clock_hz / 1e9;
}

PointClosedForm BoardClosedFormOf(uint64_t size) {
  const double cycles = static_cast<double>(size) / kBoardBytesPerCycle;
  return {BoardIdealGbps(), cycles / rtl_bridge::VirtualBoardConfig{}.clock_hz * 1e6};
}

PointClosedForm ClosedFormOf(const hw_models::NodeConfig& node, bool write, uint64_t size, size_t depth) {
  hw_models::LinkClosedForm cf(*node.link->photonic());
  const uint64_t rails = static_cast<uint64_t>(std::max<int64_t>(node.rails, 1));
  const uint64_t k = static_cast<uint64_t>(std::max<int64_t>(node.controllers, 1));
  const hw_models::TransferShare share = hw_models::StripedShare(node, size);
  const uint64_t slice = share.per_rail;
  const double memory_ns = node.memory->IdleLatencyNs(write, share.per_controller);
  const double lat_ns = write ? cf.TransferLatencyNs(slice) + memory_ns + cf.TransferLatencyNs(1)
                              : cf.TransferLatencyNs(1) + memory_ns + cf.TransferLatencyNs(slice);
  // Whole flits on the wire, slowed by the credit limit and the replays.
  const double wire_ns = cf.SerializationNs(slice) * cf.PayloadGBps() / cf.ExpectedGoodputGBps();
  double gbps = static_cast<double>(slice) / wire_ns * static_cast<double>(rails);
  if (double memory_gbps = node.memory->PeakGBps() * static_cast<double>(k); memory_gbps > 0) {
    gbps = std::min(gbps, memory_gbps);
  }
  gbps = std::min(gbps, static_cast<double>(depth) * static_cast<double>(size) / lat_ns);
  return {gbps, lat_ns / 1000.0};
}

runtime::StatusOr<BenchMemnode> StartBenchMemnode(bool sim, const std::string& address,
                                                  const std::string& provider, const std::string& binary,
                                                  uint64_t capacity) {
  BenchMemnode h;
  h.address = address;
  if (sim) {
    runtime::MemnodeOptions mo{.provider = "lightloop", .listen = "127.0.0.1:0", .capacity = capacity};
    auto started = runtime::Memnode::Start(mo);
    if (!started.ok()) {  // libfabric reads FI_PROVIDER_PATH once, at its first use in the process
      return started.status().WithContext(
          "the sim target's in-process memnode (had this process used libfabric before the sim target "
          "set FI_PROVIDER_PATH? on fpga: could the provider open the board? FI_LOG_LEVEL=warn says)");
    }
    h.in_process = std::move(*started);
    h.address = h.in_process->control_address();
  } else if (h.address.empty()) {
    runtime::MemnodeProcess::Options mo{
        .binary = binary, .provider = provider, .capacity = std::to_string(capacity)};
    LL_ASSIGN_OR_RETURN(h.process, runtime::MemnodeProcess::Spawn(mo));
    h.address = h.process->control_address();
  }
  return h;
}

runtime::RemoteMemoryClient::Options BenchClientOptions(const BenchMemnode& node, bool sim,
                                                        const std::string& provider,
                                                        const std::string& tenant, size_t depth) {
  runtime::RemoteMemoryClient::Options co;
  co.memnode = node.address;
  co.tenant = tenant;
  co.provider = sim ? "lightloop" : provider;
  co.depth = depth;
  return co;
}

}  // namespace lightloop::testbench
