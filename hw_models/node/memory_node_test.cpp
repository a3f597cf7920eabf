// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/node/memory_node.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lightloop/hw_models/memory/dram_params.h"
#include "systemc_test.h"

namespace lightloop::hw_models {
namespace {

using ::testing::HasSubstr;

const std::string kPresets = LIGHTLOOP_HW_PRESETS;

DramParams ReadDramPreset(const std::string& name) {
  ConfigReader top = ConfigReader::Load(kPresets + "/memory/" + name);
  ConfigReader section = top.Section("memory");
  section.Scalar("impl");
  return ReadDram(section);
}

// The folder of node files a test writes, one per process; removed after each test.
std::filesystem::path NodeTestDir() {
  return std::filesystem::temp_directory_path() / ("ll-node-test-" + std::to_string(getpid()));
}

class MemoryNodeTest : public SystemCTest {
 protected:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(NodeTestDir(), ec);
  }
};

TEST_F(MemoryNodeTest, EveryNodePresetLoads) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kPresets + "/nodes")) {
    NodeConfig node = ReadNode(entry.path().string());
    ASSERT_NE(node.link->photonic(), nullptr) << entry.path();
    EXPECT_GT(node.link->photonic()->gbps_per_wavelength, 0) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 5);
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
  LinkClosedForm cf(*node.link->photonic());
  EXPECT_GT(r.gbps, 1.5 * cf.PayloadGBps());
  EXPECT_GT(r.link_utilization, 0.9);
  EXPECT_GT(r.joules, 0);
  EXPECT_GT(r.pj_per_bit, cf.PjPerBit());  // framing, FEC and acks cost line bits too
}

std::string WriteNode(const std::string& name, const std::string& text) {
  const std::filesystem::path dir = NodeTestDir();
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

TEST_F(MemoryNodeTest, IdleDramReadsMatchTheClosedForm) {
  NodeConfig node = ReadNode(kPresets + "/nodes/pam4_cxl_ddr5.yaml");
  ModelRunResult r = RunNodeModel(node, {.read_fraction = 1, .size = 65536, .count = 200, .depth = 1});
  // The closed form assumes closed banks; a sequential stream also meets open rows.
  EXPECT_NEAR(r.latency_ns_p50, r.closed_form_latency_ns, r.closed_form_latency_ns * 0.01);
  EXPECT_GT(r.row_buffer_hit_rate, 0.9);
}

// Four optical rails in front of DDR5: the memory is the bottleneck, and a
// second controller doubles what the node delivers.
TEST_F(MemoryNodeTest, ControllersInterleaveAndRailsStripe) {
  auto node_with = [](int controllers) {
    return WriteNode("ddr5x" + std::to_string(controllers) + ".yaml",
                     "link: " + kPresets + "/links/optical_io_16x32g.yaml\nrails: 4\nmemory: " + kPresets +
                         "/memory/ddr5_4800.yaml\ncontrollers: " + std::to_string(controllers) +
                         "\ninterleave_bytes: 4096\n");
  };
  NodeConfig one = ReadNode(node_with(1));
  TrafficSpec t{
      .pattern = TrafficPattern::kSequential, .read_fraction = 1, .size = 65536, .count = 3000, .depth = 16};
  ModelRunResult r1 = RunNodeModel(one, t);
  EXPECT_NEAR(r1.gbps, r1.closed_form_gbps, r1.closed_form_gbps * 0.03);
  EXPECT_NEAR(r1.closed_form_gbps, DramClosedForm(ReadDramPreset("ddr5_4800.yaml")).StreamingGBps(), 1e-9);
  EXPECT_LT(r1.link_utilization, 0.2);
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();  // a second run in this process
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  ModelRunResult r2 = RunNodeModel(ReadNode(node_with(2)), t);
  EXPECT_NEAR(r2.gbps / r1.gbps, 2.0, 0.1);
}

// A partner's own memory module, chosen by `impl:` in the node file.
class Scratchpad : public sc_core::sc_module, public MemoryModel {
 public:
  tlm_utils::simple_target_socket<Scratchpad> target{"target"};
  static inline int accesses = 0;
  Scratchpad(sc_core::sc_module_name name, double ns) : sc_module(name), latency_(ns, sc_core::SC_NS) {
    target.register_b_transport(this, &Scratchpad::b_transport);
  }
  tlm::tlm_target_socket<>& socket() override { return target; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    ++accesses;
    delay += latency_;
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  sc_core::sc_time latency_;
};

class ScratchpadSpec : public MemorySpec {
 public:
  explicit ScratchpadSpec(ConfigReader& s) : ns_(s.Number({"latency_ns", "ns", 7, 0, 1000, "latency"})) {}
  uint64_t size() const override { return 1 << 20; }
  double IdleLatencyNs(bool, uint64_t) const override { return ns_; }
  double PeakGBps() const override { return 0; }
  std::unique_ptr<MemoryModel> Build(const char* name) const override {
    return std::make_unique<Scratchpad>(name, ns_);
  }

 private:
  double ns_;
};

LIGHTLOOP_REGISTER_MEMORY("test_scratchpad",
                          [](ConfigReader& s) { return std::make_unique<ScratchpadSpec>(s); });

TEST_F(MemoryNodeTest, APartnerModuleReplacesTheMemoryByConfiguration) {
  std::string path =
      WriteNode("partner.yaml",
                "link: " + kPresets +
                    "/links/optical_io_16x32g.yaml\nmemory:\n  impl: test_scratchpad\n  latency_ns: 3\n");
  NodeConfig node = ReadNode(path);
  ModelRunResult r = RunNodeModel(node, {.read_fraction = 1, .size = 4096, .count = 10, .depth = 1});
  EXPECT_EQ(Scratchpad::accesses, 10);
  LinkClosedForm cf(*node.link->photonic());
  EXPECT_NEAR(r.latency_ns_p50, cf.TransferLatencyNs(1) + 3 + cf.TransferLatencyNs(4096), 1e-3);
  EXPECT_LT(r.row_buffer_hit_rate, 0) << "the scratchpad has no rows";
  EXPECT_THAT(RegisteredMemories(), ::testing::Contains("test_scratchpad"));
}

// A partner's own link: a wire that adds a nanosecond each way.
class Wire : public sc_core::sc_module, public LinkModel {
 public:
  tlm_utils::simple_target_socket<Wire> target{"target"};
  tlm_utils::simple_initiator_socket<Wire> initiator{"initiator"};
  explicit Wire(sc_core::sc_module_name name) : sc_module(name) {
    target.register_b_transport(this, &Wire::b_transport);
  }
  tlm::tlm_target_socket<>& target_socket() override { return target; }
  tlm::tlm_initiator_socket<>& initiator_socket() override { return initiator; }
  LinkCounters counters() const override { return counters_; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    delay += sc_core::sc_time(1, sc_core::SC_NS);
    initiator->b_transport(trans, delay);
    delay += sc_core::sc_time(1, sc_core::SC_NS);
    counters_.payload_bytes += trans.get_data_length();
  }
  LinkCounters counters_;
};

struct WireSpec : LinkSpec {
  std::unique_ptr<LinkModel> Build(const char* name) const override { return std::make_unique<Wire>(name); }
};

LIGHTLOOP_REGISTER_LINK("test_wire", [](ConfigReader&) { return std::make_unique<WireSpec>(); });

TEST_F(MemoryNodeTest, APartnerLinkReplacesTheLinkByConfiguration) {
  std::string path =
      WriteNode("wire.yaml", "link: {impl: test_wire}\nmemory: {impl: fixed_latency, latency_ns: 50}\n");
  ModelRunResult r = RunNodeModel(ReadNode(path), {.read_fraction = 1, .size = 4096, .count = 5, .depth = 1});
  EXPECT_NEAR(r.latency_ns_p50, 52, 1e-6);
  EXPECT_LT(r.closed_form_gbps, 0) << "a partner link has no closed form";
}

// Every registered memory, link and switch model, by name, in a node that
// moves data.
TEST(Registries, EveryRegisteredModelRunsInANode) {
  const std::string link = "link: " + kPresets + "/links/optical_io_16x32g.yaml\n";
  std::vector<std::string> nodes;
  for (const std::string& impl : RegisteredMemories())
    nodes.push_back(link + "memory: {impl: " + impl + "}\n");
  for (const std::string& impl : LinkRegistry().Names()) {
    nodes.push_back("link: {impl: " + impl + "}\nmemory: {impl: fixed_latency}\n");
  }
  for (const std::string& impl : SwitchRegistry().Names()) {
    nodes.push_back(link + "memory: {impl: fixed_latency}\ncontrollers: 2\nswitch: {impl: " + impl + "}\n");
  }
  EXPECT_GE(nodes.size(), 6u);
  for (size_t i = 0; i < nodes.size(); ++i) {
    SCOPED_TRACE(nodes[i]);
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
    NodeConfig node = ReadNode(WriteNode("every" + std::to_string(i) + ".yaml", nodes[i]));
    ModelRunResult r = RunNodeModel(node, {.read_fraction = 0.5, .size = 4096, .count = 20, .depth = 2});
    EXPECT_GT(r.gbps, 0);
  }
  std::filesystem::remove_all(NodeTestDir());
}

// Controllers behind an optical circuit switch: with a rail per controller
// the circuits never change; with one rail, traffic to the other controller
// waits for reconfigurations.
TEST_F(MemoryNodeTest, ControllersBehindASwitch) {
  auto node_with = [](int rails) {
    return WriteNode("ocs" + std::to_string(rails) + ".yaml",
                     "link: " + kPresets + "/links/optical_io_16x32g.yaml\nrails: " + std::to_string(rails) +
                         "\nmemory: {impl: fixed_latency, latency_ns: 90, size_mib: 64}\ncontrollers: 2\n"
                         "switch: {impl: ocs, ports: 2, reconfig_us: 2}\n");
  };
  // Alternate between the controllers (64 MiB each).
  TrafficSpec t{.pattern = TrafficPattern::kStrided,
                .read_fraction = 1,
                .size = 65536,
                .count = 400,
                .depth = 8,
                .stride = 64 << 20};
  ModelRunResult two = RunNodeModel(ReadNode(node_with(2)), t);
  EXPECT_EQ(two.reconfigurations, 0u);
  EXPECT_NEAR(two.gbps, two.closed_form_gbps, two.closed_form_gbps * 0.03);
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  ModelRunResult one = RunNodeModel(ReadNode(node_with(1)), t);
  EXPECT_EQ(one.reconfigurations, 399u) << "every transfer goes to the other controller";
  EXPECT_GE(one.latency_ns_max, 2000);
  // Each transfer waits for its circuit: no faster than one 64 KiB per 2 us.
  EXPECT_LE(one.gbps, 65536.0 * 400 / (399 * 2000.0) * 1.01);
  EXPECT_LT(one.gbps, two.gbps / 3);
}

// Temporal decoupling with a quantum: the driver syncs with the kernel, and
// loosely-timed models give the same answer either way.
TEST_F(MemoryNodeTest, AQuantumSyncsWithoutChangingTheResults) {
  NodeConfig node = ReadNode(kPresets + "/nodes/optical_io_ddr5.yaml");
  TrafficSpec t{
      .pattern = TrafficPattern::kRandom, .read_fraction = 0.5, .size = 65536, .count = 2000, .depth = 16};
  ModelRunResult free_running = RunNodeModel(node, t);
  EXPECT_EQ(free_running.quantum_syncs, 0u);
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  t.quantum_ns = 1000;
  ModelRunResult synced = RunNodeModel(ReadNode(kPresets + "/nodes/optical_io_ddr5.yaml"), t);
  EXPECT_GT(synced.quantum_syncs, 100u);
  EXPECT_EQ(synced.gbps, free_running.gbps);
  EXPECT_EQ(synced.latency_ns_p99, free_running.latency_ns_p99);
}

// The command-level DRAM waits inside b_transport; the node drives it with
// a thread per outstanding transfer, and it agrees with the transaction
// level through the link as well.
TEST_F(MemoryNodeTest, CommandLevelDramInANode) {
  auto node_with = [](const std::string& fidelity) {
    return WriteNode("dram-" + fidelity + ".yaml",
                     "link: " + kPresets +
                         "/links/optical_io_16x32g.yaml\nrails: 4\nmemory: {impl: dram, "
                         "fidelity: " +
                         fidelity + "}\n");
  };
  TrafficSpec t{
      .pattern = TrafficPattern::kRandom, .read_fraction = 1, .size = 65536, .count = 300, .depth = 8};
  ModelRunResult command = RunNodeModel(ReadNode(node_with("command")), t);
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  ModelRunResult transaction = RunNodeModel(ReadNode(node_with("transaction")), t);
  EXPECT_NEAR(command.gbps / transaction.gbps, 1.0, 0.05) << command.gbps << " vs " << transaction.gbps;
  EXPECT_NEAR(command.latency_ns_p50 / transaction.latency_ns_p50, 1.0, 0.05);
  EXPECT_GT(command.row_buffer_hit_rate, 0.5);
}

TEST_F(MemoryNodeTest, BadNodeFilesNameFileLineAndKey) {
  const std::filesystem::path dir = NodeTestDir();
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
  std::string a =
      write("a.yaml", "link: {impl: photonic_wdm}\nmemory:\n  impl: fixed_latency\n  latncy_ns: 5\n");
  EXPECT_THAT(error_of(a),
              HasSubstr("a.yaml:4:3: key 'memory.latncy_ns': unknown key (did you mean 'latency_ns'?)"));
  std::string b = write("b.yaml", "link: links/nowhere.yaml\nmemory: {}\n");
  EXPECT_THAT(error_of(b), HasSubstr("links/nowhere.yaml: cannot open the file"));
  std::string d = write("d.yaml",
                        "link: {impl: photonic_wdm}\nmemory: {impl: fixed_latency}\ncontrollers: 4\n"
                        "switch:\n  impl: ocs\n  ports: 2\n");
  EXPECT_THAT(error_of(d), HasSubstr("d.yaml:4:1: key 'switch': has 2 ports; the node needs 4"));
  std::string c = write("c.yaml", "link: {impl: photonic_wdm}\nmemory:\n  impl: hbm9\n");
  EXPECT_THAT(
      error_of(c),
      HasSubstr("c.yaml:3:3: key 'memory.impl': 'hbm9' is not one of: dram, fixed_latency, test_scratchpad"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lightloop::hw_models
