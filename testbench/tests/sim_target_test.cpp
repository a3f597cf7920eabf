// SPDX-License-Identifier: Apache-2.0
// `lightloop bench transport --target sim` as a user runs it: the nic
// target's benchmark over the lightloop provider, its memnode in-process,
// timed in virtual time. Measured bandwidth and latency agree with the
// node's closed form, and two runs give the same JSON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lightloop/hw_models/node/memory_node.h"
#include "run_lightloop.h"

namespace lightloop::testbench {
namespace {

std::string Preset(const std::string& name) {
  return std::string(LIGHTLOOP_HW_PRESETS) + "/nodes/" + name;
}

// Runs the sim benchmark with `args` and returns its JSON (empty on failure).
nlohmann::json RunSim(const std::string& args) {
  return LightloopJson("bench transport --target sim " + args);
}

const nlohmann::json& Find(const nlohmann::json& j, const std::string& op, uint64_t size) {
  for (const auto& r : j["results"]) {
    if (r["op"] == op && r["size"] == size) return r;
  }
  ADD_FAILURE() << "no " << op << " of " << size << " bytes in " << j.dump(1);
  static const nlohmann::json kNone;
  return kNone;
}

constexpr const char* kQuick = "--sizes 1M --depth 8 --min-time-ms 2 --latency-iterations 100";

// The targets: at 1 MiB and depth 8 the node's saturated bandwidth
// (the link's, or the memory's where that is lower), and the 64-byte
// unloaded latency, each within 2%; the closed forms in the JSON are those
// of hw_models for the node.
void ExpectClosedForm(const std::string& preset, const nlohmann::json& j) {
  hw_models::NodeConfig node = hw_models::ReadNode(preset);
  hw_models::LinkClosedForm cf(*node.link->photonic());
  double link_gbps = cf.ExpectedGoodputGBps() * static_cast<double>(node.rails);
  if (double memory_gbps = node.memory->PeakGBps() * static_cast<double>(node.controllers); memory_gbps > 0) {
    link_gbps = std::min(link_gbps, memory_gbps);
  }
  const double write_ns =
      cf.TransferLatencyNs(64) + node.memory->IdleLatencyNs(true, 64) + cf.TransferLatencyNs(1);
  const double read_ns =
      cf.TransferLatencyNs(1) + node.memory->IdleLatencyNs(false, 64) + cf.TransferLatencyNs(64);
  EXPECT_EQ(j["time"], "virtual");
  EXPECT_EQ(j["provider"], "lightloop");
  EXPECT_NEAR(j["baseline"]["closed_form_gbps"].get<double>(), link_gbps, link_gbps * 1e-3);
  for (const char* op : {"write", "read"}) {
    const nlohmann::json& big = Find(j, op, 1 << 20);
    const nlohmann::json& small = Find(j, op, 64);
    double expected_us = (std::string(op) == "write" ? write_ns : read_ns) / 1000;
    EXPECT_NEAR(small["closed_form_lat_us"].get<double>(), expected_us, expected_us * 1e-6) << op;
    EXPECT_NEAR(big["closed_form_gbps"].get<double>(), link_gbps, link_gbps * 1e-3) << op;
    double gbps = big["gbps"].get<double>(), lat_us = small["lat_us_p50"].get<double>();
    std::printf(
        "%s %s: 1 MiB depth 8 %.3f GB/s (closed form %.3f, ratio %.5f); 64 B %.5f us (closed form "
        "%.5f, ratio %.5f)\n",
        preset.c_str(), op, gbps, link_gbps, gbps / link_gbps, lat_us, expected_us, lat_us / expected_us);
    EXPECT_NEAR(gbps, link_gbps, link_gbps * 0.02) << op;
    EXPECT_NEAR(lat_us, expected_us, expected_us * 0.02) << op;
    if (node.memory->PeakGBps() <= 0) {  // a fixed latency: every 64 B access takes the same time
      EXPECT_NEAR(small["lat_us_p99"].get<double>(), expected_us, expected_us * 0.02) << op;
    } else {  // DRAM: the TLM controller's row conflicts and refresh show in the tail, within a tRFC
      EXPECT_GE(small["lat_us_p99"].get<double>(), lat_us) << op;
      EXPECT_LE(small["lat_us_p99"].get<double>(), lat_us + 0.4) << op;
    }
  }
}

TEST(SimTarget, DefaultNodeMeetsItsClosedForm) {
  nlohmann::json j = RunSim(kQuick);
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j["config"], Preset("optical_io_fixed.yaml"));
  ExpectClosedForm(Preset("optical_io_fixed.yaml"), j);
}

// DDR5 behind a PAM4 link: the memory is the bottleneck, and the memnode's
// two endpoints share it (one pool).
TEST(SimTarget, MemoryBoundNodeMeetsItsClosedForm) {
  hw_models::NodeConfig node = hw_models::ReadNode(Preset("pam4_cxl_ddr5.yaml"));
  hw_models::LinkClosedForm cf(*node.link->photonic());
  ASSERT_LT(node.memory->PeakGBps() * static_cast<double>(node.controllers), cf.ExpectedGoodputGBps())
      << "the preset no longer is memory-bound";
  nlohmann::json j = RunSim(std::string(kQuick) + " --config " + Preset("pam4_cxl_ddr5.yaml"));
  ASSERT_FALSE(j.empty());
  ExpectClosedForm(Preset("pam4_cxl_ddr5.yaml"), j);
}

TEST(SimTarget, ConfigPicksTheNode) {
  nlohmann::json j = RunSim(std::string(kQuick) + " --config " + Preset("pam4_fixed.yaml"));
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j["config"], Preset("pam4_fixed.yaml"));
  ExpectClosedForm(Preset("pam4_fixed.yaml"), j);
}

// Virtual time is deterministic, the memnode's progress threads included:
// everything but the wall-time fields is identical.
TEST(SimTarget, TwoRunsGiveIdenticalJson) {
  auto strip = [](nlohmann::json j) {
    for (auto& r : j["results"]) r.erase("wall_s");
    return j;
  };
  const std::string args = "--sizes 4K,64K,1M --depth 8 --min-time-ms 1 --latency-iterations 200";
  nlohmann::json first = strip(RunSim(args)), second = strip(RunSim(args));
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.dump(1), second.dump(1));
}

TEST(SimTarget, TableShowsTheClosedForm) {
  CommandResult r = Lightloop(std::string("bench transport --target sim ") + kQuick);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* text :
       {"target sim", "virtual time", "closed GB/s", "closed lat us", "optical_io_fixed.yaml"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
}

TEST(SimTarget, RefusesWhatDoesNotApply) {
  CommandResult r = Lightloop("bench transport --target sim --memnode 127.0.0.1:1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("in this process"), std::string::npos) << r.out;
  r = Lightloop("bench transport --target sim --provider tcp");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("lightloop provider"), std::string::npos) << r.out;
  r = Lightloop("bench transport --config " + Preset("pam4_fixed.yaml"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--config applies to --target sim"), std::string::npos) << r.out;
  r = Lightloop("bench transport --target sim --config /nonexistent/node.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/node.yaml"), std::string::npos) << r.out;
  r = Lightloop("bench transport --target sim --board virtual");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--board applies to --target fpga"), std::string::npos) << r.out;
  EXPECT_EQ(Lightloop("bench transport --target board").code, 2);
}

// The fpga target: the lightloop provider with its regions in the virtual
// board's memory, RMA by the board's DMA, virtual time in board cycles; the
// closed form is the board's ideal 8 B/cycle, which no point exceeds.
TEST(FpgaTarget, BenchTransportRunsOnTheVirtualBoard) {
  nlohmann::json j = LightloopJson(
      "bench transport --target fpga --sizes 64K --depth 4 --min-time-ms 1 --latency-iterations 20");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["target"], "fpga");
  EXPECT_EQ(j["time"], "virtual");
  EXPECT_EQ(j["board"], "virtual");
  EXPECT_EQ(j["provider"], "lightloop");
  const double ideal = j["baseline"]["closed_form_gbps"].get<double>();
  EXPECT_DOUBLE_EQ(ideal, 2.0);  // 8 B/cycle at 250 MHz
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& x : j["results"]) {
    const double gbps = x["gbps"].get<double>();
    EXPECT_GT(gbps, 0) << x;
    EXPECT_LE(gbps, ideal) << x;
    EXPECT_GE(x["lat_us_p50"].get<double>(), x["closed_form_lat_us"].get<double>()) << x;
    if (x["size"] == 65536) EXPECT_GT(gbps, 0.8 * ideal) << x;  // 64 KiB DMAs nearly stream
  }
}

// `lightloop board --virtual` in the background; `spec` is the pcie spec of
// its shared-memory window, from its "board ready" line.
class BoardProcess {
 public:
  BoardProcess() {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      const std::string prefix = "/dev/shm/ll-test-fpga-" + std::to_string(getppid());
      execl(LIGHTLOOP_BIN, LIGHTLOOP_BIN, "board", "--virtual", "--prefix", prefix.c_str(), nullptr);
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    std::array<char, 1024> line;
    while (out_ != nullptr && fgets(line.data(), line.size(), out_) != nullptr) {
      std::string l = line.data();
      if (size_t at = l.find(" spec="); l.rfind("board ready", 0) == 0 && at != std::string::npos) {
        spec = l.substr(at + 6, l.find_first_of(" \n", at + 6) - at - 6);
        break;
      }
    }
  }
  ~BoardProcess() {
    if (pid_ > 0) {  // SIGTERM: it removes its files
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) fclose(out_);
  }
  std::string spec;

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

// The same provider backend through the driver's pcie backend, against the
// board process's window: the path a real board takes.
TEST(FpgaTarget, BenchTransportRunsOnTheBoardProcess) {
  BoardProcess board;
  ASSERT_EQ(board.spec.rfind("pcie:", 0), 0u) << board.spec;
  nlohmann::json j = LightloopJson("bench transport --target fpga --board " + board.spec +
                                   " --sizes 64K --depth 4 --min-time-ms 1 --latency-iterations 20");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["board"], board.spec);
  // A board that runs by itself keeps wall-clock time, as a real one does.
  EXPECT_EQ(j["time"], "wall");
  for (const auto& x : j["results"]) EXPECT_GT(x["gbps"].get<double>(), 0) << x;
}

}  // namespace
}  // namespace lightloop::testbench

namespace lightloop::testbench {
namespace {

// `lightloop bench offload` with `args`; its JSON (empty on failure).
nlohmann::json RunOffload(const std::string& args) {
  return LightloopJson("bench offload " + args);
}

// The targets on the sim target, in virtual time: offload and fetch
// through the KV cache at least 0.9 of the raw runtime, and a decode step
// with prefetch within 5% of max(compute, transfer).
TEST(OffloadBench, SimTargetMeetsItsBounds) {
  nlohmann::json j = RunOffload("--target sim --blocks 32 --repeats 1");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["time"], "virtual");
  for (const char* key : {"offload_gbps", "fetch_gbps", "raw_write_gbps", "raw_read_gbps", "step_prefetch_us",
                          "step_no_prefetch_us", "step_bound_us"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GT(j[key].get<double>(), 0) << key;
  }
  EXPECT_GE(j["offload_gbps"].get<double>() / j["raw_write_gbps"].get<double>(), 0.9);
  EXPECT_GE(j["fetch_gbps"].get<double>() / j["raw_read_gbps"].get<double>(), 0.9);
  double bound = j["step_bound_us"].get<double>();
  EXPECT_NEAR(j["step_prefetch_us"].get<double>() / bound, 1.0, 0.05);
  EXPECT_GT(j["step_no_prefetch_us"].get<double>(), 1.5 * bound) << "without prefetch, transfer then compute";
  EXPECT_EQ(j["hash_gbps"].get<double>(), 0) << "hashing takes no virtual time";
  EXPECT_EQ(j["verified_read_bound_gbps"].get<double>(), j["raw_read_gbps"].get<double>());
  EXPECT_EQ(RunOffload("--target sim --blocks 32 --repeats 1"), j)
      << "virtual time: the same run, the same JSON";
}

// The step computing layer by layer (WaitLayer, then the layer's compute)
// and the prefill writing each layer back once computed (OffloadLayer):
// under layer_major each layer's transfer overlaps the compute of others,
// so both stay within a few layers' transfer of max(compute, transfer);
// under block_major a layer travels with its whole block, so transfer and
// compute add up.
TEST(OffloadBench, SimTargetLayerMajorPipelinesTheStep) {
  nlohmann::json layered = RunOffload("--target sim --blocks 32 --repeats 1 --layout layer_major");
  ASSERT_FALSE(layered.is_null());
  EXPECT_EQ(layered["layout"], "layer_major");
  const double bound = layered["step_bound_us"].get<double>();
  EXPECT_LE(layered["step_layer_pipelined_us"].get<double>() / bound, 1.1);
  EXPECT_LE(layered["prefill_offload_layered_us"].get<double>() / bound, 1.1);
  EXPECT_GT(layered["prefill_offload_after_us"].get<double>(), 1.8 * bound);
  EXPECT_GE(layered["fetch_gbps"].get<double>() / layered["raw_read_gbps"].get<double>(), 0.9);
  EXPECT_GE(layered["offload_gbps"].get<double>() / layered["raw_write_gbps"].get<double>(), 0.9);
  nlohmann::json whole = RunOffload("--target sim --blocks 32 --repeats 1");
  ASSERT_FALSE(whole.is_null());
  EXPECT_EQ(whole["layout"], "block_major");
  EXPECT_GT(whole["step_layer_pipelined_us"].get<double>(), 1.8 * whole["step_bound_us"].get<double>());
  EXPECT_GT(whole["prefill_offload_layered_us"].get<double>(), 1.8 * whole["step_bound_us"].get<double>());
  CommandResult bad = Lightloop("bench offload --target sim --layout row_major");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("layout 'row_major' is not one of: block_major, layer_major"), std::string::npos)
      << bad.out;
}

// The same layer, unchanged, on the fpga target: the virtual board's DMA
// moves the blocks, in board cycles.
TEST(OffloadBench, FpgaTargetMeetsItsBounds) {
  nlohmann::json j = RunOffload("--target fpga --blocks 8 --repeats 1");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["target"], "fpga");
  EXPECT_EQ(j["time"], "virtual");
  EXPECT_GE(j["offload_gbps"].get<double>() / j["raw_write_gbps"].get<double>(), 0.9);
  EXPECT_GE(j["fetch_gbps"].get<double>() / j["raw_read_gbps"].get<double>(), 0.9);
  EXPECT_LE(j["raw_write_gbps"].get<double>(), 2.0 + 1e-9) << "the board's link: 8 B/cycle at 250 MHz";
  EXPECT_NEAR(j["step_prefetch_us"].get<double>() / j["step_bound_us"].get<double>(), 1.0, 0.05);
  CommandResult bad = Lightloop("bench offload --target fpga --board pcie:/nonexistent/resource0");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("/nonexistent/resource0"), std::string::npos) << bad.out;
}

TEST(OffloadBench, NicTargetRunsOverShm) {
  nlohmann::json j = RunOffload("--provider shm --blocks 16 --repeats 1 --codec int8");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["time"], "wall");
  EXPECT_GT(j["offload_gbps"].get<double>(), 0);
  EXPECT_GT(j["fetch_gbps"].get<double>(), 0);
  EXPECT_GT(j["bytes_saved"].get<double>(), 0) << "int8 halves what crosses the link";
  CommandResult bad = Lightloop("bench offload --provider shm --codec fp4");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("codec 'fp4' is not one of"), std::string::npos) << bad.out;
}

// On the wall clock the bench measures what integrity costs on the client's
// thread: XXH3 over the blocks, and the raw runtime with it in series (the
// bound of hashing, then moving); `--no-checksums` takes it away.
TEST(OffloadBench, NicTargetMeasuresWhatIntegrityCosts) {
  nlohmann::json j = RunOffload("--provider shm --blocks 16 --repeats 1");
  ASSERT_FALSE(j.is_null());
  EXPECT_TRUE(j["checksums"].get<bool>());
  const double hash = j["hash_gbps"].get<double>();
  ASSERT_GT(hash, 0);
  for (auto [bound, raw] : {std::pair{"verified_write_bound_gbps", "raw_write_gbps"},
                            std::pair{"verified_read_bound_gbps", "raw_read_gbps"}}) {
    const double r = j[raw].get<double>();
    EXPECT_NEAR(j[bound].get<double>(), 1.0 / (1.0 / r + 1.0 / hash), 1e-9 * r) << bound;
    EXPECT_LT(j[bound].get<double>(), r) << bound;
  }
  nlohmann::json off = RunOffload("--provider shm --blocks 16 --repeats 1 --no-checksums");
  ASSERT_FALSE(off.is_null());
  EXPECT_FALSE(off["checksums"].get<bool>());
  EXPECT_EQ(off["hash_gbps"].get<double>(), 0);
  EXPECT_EQ(off["verified_read_bound_gbps"].get<double>(), off["raw_read_gbps"].get<double>());
  EXPECT_GT(off["fetch_gbps"].get<double>(), 0);
}

}  // namespace
}  // namespace lightloop::testbench

namespace lightloop::testbench {
namespace {

// `lightloop bench weights` with `args`; its JSON (empty on failure).
nlohmann::json RunWeights(const std::string& args) {
  return LightloopJson("bench weights " + args);
}

// The line of `j` for `buffers` buffers (null if there is none).
nlohmann::json LineOf(const nlohmann::json& j, int64_t buffers) {
  for (const nlohmann::json& line : j["buffers"]) {
    if (line["buffers"].get<int64_t>() == buffers) return line;
  }
  return nullptr;
}

// Weight streaming on the sim target, compute balanced with transfer: with
// one buffer each layer's transfer and compute add up (twice the bound);
// with two or three the next layers fly while one computes, within 5% of
// max(compute, transfer); streaming alone keeps the raw runtime's rate.
TEST(WeightsBench, SimTargetOverlapsTheNextLayers) {
  nlohmann::json j = RunWeights("--target sim --layers 8 --layer-size 4MiB --repeats 1");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["time"], "virtual");
  EXPECT_GE(j["stream_ratio"].get<double>(), 0.9);
  ASSERT_EQ(j["buffers"].size(), 3u);
  nlohmann::json one = LineOf(j, 1), two = LineOf(j, 2), three = LineOf(j, 3);
  ASSERT_FALSE(one.is_null() || two.is_null() || three.is_null()) << j.dump();
  EXPECT_NEAR(one["ratio"].get<double>(), 2.0, 0.05) << "one buffer: fetch, then compute";
  EXPECT_EQ(one["stalls"], 8) << "every layer waits";
  EXPECT_NEAR(two["ratio"].get<double>(), 1.0, 0.05);
  EXPECT_NEAR(three["ratio"].get<double>(), 1.0, 0.05);
  EXPECT_EQ(three["stalls"], 0) << "two layers ahead: nothing to wait for";
  EXPECT_EQ(RunWeights("--target sim --layers 8 --layer-size 4MiB --repeats 1"), j)
      << "virtual time: the same run, the same JSON";
}

// Pinned layers are fetched once: with 4 of 8 pinned and one buffer, only
// the other 4 wait, so the token is the compute plus half the transfer.
TEST(WeightsBench, PinnedLayersAreNotStreamed) {
  nlohmann::json j =
      RunWeights("--target sim --layers 8 --layer-size 4MiB --repeats 1 --pinned 4 --buffers 1");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["pinned"], 4);
  nlohmann::json one = LineOf(j, 1);
  ASSERT_FALSE(one.is_null()) << j.dump();
  EXPECT_EQ(one["stalls"], 4);
  EXPECT_NEAR(one["ratio"].get<double>(), 1.5, 0.05);
}

TEST(WeightsBench, BadOptionsNameTheFlag) {
  CommandResult pinned = Lightloop("bench weights --target sim --layers 4 --pinned 4");
  EXPECT_NE(pinned.code, 0);
  EXPECT_NE(pinned.out.find("--pinned: 4 is not in [0, 4)"), std::string::npos) << pinned.out;
  CommandResult buffers = Lightloop("bench weights --target sim --layers 4 --buffers 2,0");
  EXPECT_NE(buffers.code, 0);
  EXPECT_NE(buffers.out.find("--buffers: 0 is not at least 1"), std::string::npos) << buffers.out;
  CommandResult size = Lightloop("bench weights --target sim --layer-size 4XB");
  EXPECT_NE(size.code, 0);
  EXPECT_NE(size.out.find("--layer-size"), std::string::npos) << size.out;
}

// The nic target over shm, in wall time: the bench checks every layer's
// bytes as it computes, so a run that ends well delivered each layer.
TEST(WeightsBench, NicTargetRunsOverShm) {
  nlohmann::json j = RunWeights("--provider shm --layers 4 --layer-size 1MiB --repeats 1 --buffers 1,2");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["time"], "wall");
  EXPECT_GT(j["raw_read_gbps"].get<double>(), 0);
  EXPECT_GT(j["stream_gbps"].get<double>(), 0);
  ASSERT_EQ(j["buffers"].size(), 2u);
  EXPECT_EQ(LineOf(j, 1)["stalls"], 4) << "one buffer: every layer waits";
}

}  // namespace
}  // namespace lightloop::testbench
