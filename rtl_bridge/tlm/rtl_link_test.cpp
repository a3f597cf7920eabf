// SPDX-License-Identifier: Apache-2.0
// The RTL link (`impl: rtl`) inside hw_models: on a clean link its timing is
// the photonic closed form of the same shape; with bit errors every byte
// still arrives, at the cost of replays; bad keys are named.
#include "lightloop/rtl_bridge/tlm/rtl_link.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "lightloop/hw_models/link/link_registry.h"
#include "lightloop/hw_models/memory/fixed_latency_memory.h"
#include "lightloop/hw_models/node/memory_node.h"
#include "tlm_test_requester.h"

namespace lightloop::rtl_bridge {
namespace {

using hw_models::ConfigReader;
using hw_models::Requester;
using sc_core::sc_time;

hw_models::NodeConfig Node(const std::string& link_yaml) {
  RegisterRtlLink();
  ConfigReader top = ConfigReader::Parse(
      "link: {impl: rtl" + link_yaml + "}\nmemory: {impl: fixed_latency, latency_ns: 90, size_mib: 64}\n",
      "rtl_node.yaml");
  return hw_models::ReadNode(top, "rtl_node.yaml");
}

hw_models::ModelRunResult Simulate(const std::string& link_yaml, double read_fraction, uint32_t size,
                                   uint64_t count, uint32_t depth) {
  return hw_models::RunNodeModel(
      Node(link_yaml), {.read_fraction = read_fraction, .size = size, .count = count, .depth = depth});
}

// One transfer on an idle link: the simulated latency is the closed form of
// the photonic link with the RTL's shape, to the picosecond.
TEST(RtlLink, OneWriteOnACleanLinkIsTheClosedForm) {
  hw_models::ModelRunResult r = Simulate(", clock_mhz: 500, lane_latency_cycles: 12", 0, 4096, 1, 1);
  ASSERT_GT(r.closed_form_latency_ns, 0);
  // 512 data flits + 12 lane + 2 stages at 2 ns, 90 ns memory, then the ack.
  EXPECT_NEAR(r.closed_form_latency_ns, (512 + 12 + 2) * 2.0 + 90 + (1 + 12 + 2) * 2.0, 1e-6);
  EXPECT_NEAR(r.latency_ns_p50, r.closed_form_latency_ns, 1e-3);
  EXPECT_EQ(r.flits_replayed, 0u);
}

TEST(RtlLink, OneReadOnACleanLinkIsTheClosedForm) {
  hw_models::ModelRunResult r = Simulate("", 1, 100, 1, 1);  // 100 B: 13 flits, the last one partly filled
  EXPECT_NEAR(r.closed_form_latency_ns, (1 + 8 + 2) * 1.0 + 90 + (13 + 8 + 2) * 1.0, 1e-6);
  EXPECT_NEAR(r.latency_ns_p50, r.closed_form_latency_ns, 1e-3);
}

// Back-to-back transfers saturate at one 8-byte payload per cycle: the
// closed form's goodput, within 1%.
TEST(RtlLink, StreamingWritesReachTheClosedFormBandwidth) {
  hw_models::ModelRunResult r = Simulate("", 0, 65536, 64, 8);
  EXPECT_NEAR(r.closed_form_gbps, 8.0, 1e-9);  // 8 B per cycle at 1 GHz
  EXPECT_NEAR(r.gbps / r.closed_form_gbps, 1.0, 0.01) << r.gbps;
}

// A replay buffer of 32 flits covers a round trip of at most 32 cycles: with
// 40-cycle lanes each way the transmitter waits for ACKs, and the RTL, not
// the closed form, says by how much.
TEST(RtlLink, LongLanesStallOnTheReplayBuffer) {
  hw_models::ModelRunResult r =
      Simulate(", lane_latency_cycles: 40, control_latency_cycles: 40", 0, 65536, 16, 4);
  EXPECT_LT(r.gbps, 0.6 * r.closed_form_gbps) << r.gbps;
  EXPECT_GT(r.gbps, 0.2 * r.closed_form_gbps) << r.gbps;
}

// With a BER of 1e-4 about 1% of the 104-bit flits are hit: the CRC catches
// them, go-back-N replays them, and random data of odd sizes comes back
// byte for byte through the RTL both ways, slower than on a clean link.
TEST(RtlLink, BitErrorsAreReplayedAndNoByteIsLost) {
  RegisterRtlLink();
  ConfigReader top = ConfigReader::Parse("link: {impl: rtl, ber: 1.0e-4, seed: 7}\n", "ber.yaml");
  ConfigReader section = top.Section("link");
  std::unique_ptr<hw_models::LinkSpec> spec = hw_models::LinkRegistry().Parse(section);
  std::unique_ptr<hw_models::LinkModel> link = spec->Build("link");
  hw_models::FixedLatencyMemory memory("memory", 1 << 20, sc_time(50, sc_core::SC_NS));
  Requester requester("requester");
  requester.socket.bind(link->target_socket());
  link->initiator_socket().bind(memory.target);

  std::mt19937_64 rng(3);
  int mismatches = 0, errors = 0;
  double slowest_ratio = 0;
  requester.body = [&](Requester& r) {
    for (uint32_t len : {1u, 7u, 4096u, 4099u, 20000u}) {
      std::vector<unsigned char> out(len), in(len, 0);
      for (auto& b : out) b = static_cast<unsigned char>(rng());
      tlm::tlm_response_status st;
      const sc_time start = sc_core::sc_time_stamp();
      sc_time done = r.Transfer(tlm::TLM_WRITE_COMMAND, 1000, out.data(), len, start, &st);
      errors += st != tlm::TLM_OK_RESPONSE;
      const sc_time w = done - start;
      done = r.Transfer(tlm::TLM_READ_COMMAND, 1000, in.data(), len, done, &st);
      errors += st != tlm::TLM_OK_RESPONSE;
      sc_core::wait(done - sc_core::sc_time_stamp());
      mismatches += in != out;
      const double clean_ns = ((len + 7) / 8 + 8 + 2) + 50.0 + (1 + 8 + 2);
      slowest_ratio = std::max(slowest_ratio, w.to_seconds() * 1e9 / clean_ns);
    }
  };
  sc_core::sc_start();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(mismatches, 0);
  hw_models::LinkCounters c = link->counters();
  EXPECT_GT(c.flit_errors, 10u);  // ~1% of ~7,000 flits
  EXPECT_GT(c.flits_replayed, 0u);
  EXPECT_GT(slowest_ratio, 1.0);
  EXPECT_EQ(c.payload_bytes, 2u * (1 + 7 + 4096 + 4099 + 20000));
}

TEST(RtlLink, BadKeysAreNamedWithTheirLine) {
  RegisterRtlLink();
  for (const char* yaml : {"link:\n  impl: rtl\n  lane_latency_cycles: 65\n",
                           "link:\n  impl: rtl\n  lane_latency: 8\n", "link:\n  impl: rtl\n  ber: 0.5\n"}) {
    ConfigReader top = ConfigReader::Parse(yaml, "bad.yaml");
    ConfigReader section = top.Section("link");
    try {
      std::unique_ptr<hw_models::LinkSpec> spec = hw_models::LinkRegistry().Parse(section);
      section.Finish();
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const hw_models::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("bad.yaml:3"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lightloop::rtl_bridge
