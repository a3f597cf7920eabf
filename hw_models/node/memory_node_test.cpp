// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/node/memory_node.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "systemc_test.h"

namespace lightloop::hw_models {
namespace {

using ::testing::HasSubstr;

const std::string kPresets = LIGHTLOOP_HW_PRESETS;

class MemoryNodeTest : public SystemCTest {};

TEST_F(MemoryNodeTest, EveryNodePresetLoads) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kPresets + "/nodes")) {
    NodeConfig node = ReadNode(entry.path().string());
    EXPECT_GT(node.link.gbps_per_wavelength, 0) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 2);
}

TEST_F(MemoryNodeTest, IdleReadsMatchTheClosedForm) {
  NodeConfig node = ReadNode(kPresets + "/nodes/optical_io_fixed.yaml");
  ModelRunResult r = RunNodeModel(node, {.read_fraction = 1, .size = 65536, .count = 200, .depth = 1});
  EXPECT_NEAR(r.latency_ns_p50, r.closed_form_latency_ns, r.closed_form_latency_ns * 1e-3);
  EXPECT_NEAR(r.latency_ns_max, r.closed_form_latency_ns, r.closed_form_latency_ns * 1e-3);
}

TEST_F(MemoryNodeTest, SaturatedMixedTrafficMatchesTheClosedForm) {
  NodeConfig node = ReadNode(kPresets + "/nodes/pam4_fixed.yaml");
  TrafficSpec t{
      .pattern = TrafficPattern::kRandom, .read_fraction = 0.5, .size = 65536, .count = 8000, .depth = 128};
  ModelRunResult r = RunNodeModel(node, t);
  EXPECT_NEAR(r.gbps, r.closed_form_gbps, r.closed_form_gbps * 0.02) << "simulated " << r.gbps;
  // Full duplex: a 50/50 mix moves more than one direction alone could.
  LinkClosedForm cf(node.link);
  EXPECT_GT(r.gbps, 1.5 * cf.PayloadGBps());
  EXPECT_GT(r.link_utilization, 0.9);
  EXPECT_GT(r.joules, 0);
  EXPECT_GT(r.pj_per_bit, cf.PjPerBit());  // framing, FEC and acks cost line bits too
}

TEST_F(MemoryNodeTest, BadNodeFilesNameFileLineAndKey) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "ll-node-test";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto error_of = [](const std::string& path) -> std::string {
    try {
      ReadNode(path);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  std::string a = write("a.yaml", "link: {}\nmemory:\n  impl: fixed_latency\n  latncy_ns: 5\n");
  EXPECT_THAT(error_of(a),
              HasSubstr("a.yaml:4:3: key 'memory.latncy_ns': unknown key (did you mean 'latency_ns'?)"));
  std::string b = write("b.yaml", "link: links/nowhere.yaml\nmemory: {}\n");
  EXPECT_THAT(error_of(b), HasSubstr("links/nowhere.yaml: cannot open the file"));
  std::string c = write("c.yaml", "link: {}\nmemory:\n  impl: hbm9\n");
  EXPECT_THAT(error_of(c), HasSubstr("c.yaml:3:3: key 'memory.impl': 'hbm9' is not one of: fixed_latency"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lightloop::hw_models
