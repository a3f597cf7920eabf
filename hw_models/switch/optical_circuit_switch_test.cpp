// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/switch/optical_circuit_switch.h"

#include <gtest/gtest.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <functional>
#include <memory>

#include "lightloop/hw_models/memory/fixed_latency_memory.h"
#include "systemc_test.h"

namespace lightloop::hw_models {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

constexpr uint64_t kSpan = 1 << 20;
constexpr double kMemNs = 50;
constexpr double kReconfigUs = 10;

struct Source : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Source> socket{"socket"};
  explicit Source(sc_core::sc_module_name name) : sc_module(name) {}
  // A 64-byte write to `addr` issued at `at`; its completion time.
  sc_time Write(uint64_t addr, sc_time at) {
    unsigned char data[64] = {};
    tlm::tlm_generic_payload trans;
    trans.set_command(tlm::TLM_WRITE_COMMAND);
    trans.set_address(addr);
    trans.set_data_ptr(data);
    trans.set_data_length(64);
    trans.set_streaming_width(64);
    sc_time delay = at - sc_core::sc_time_stamp();
    socket->b_transport(trans, delay);
    EXPECT_TRUE(trans.is_response_ok());
    EXPECT_EQ(trans.get_address(), addr);  // restored for the initiator
    return sc_core::sc_time_stamp() + delay;
  }
};

struct Runner : sc_core::sc_module {
  std::function<void()> body;
  SC_HAS_PROCESS(Runner);
  explicit Runner(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }
  void Run() { body(); }
};

class OcsTest : public SystemCTest {
 protected:
  void Build() {
    OcsParams p{.ports = 2, .reconfig_us = kReconfigUs, .port_span = kSpan};
    ocs_ = std::make_unique<OpticalCircuitSwitch>("ocs", p);
    for (int i = 0; i < 2; ++i) {
      sources_.push_back(std::make_unique<Source>(("source" + std::to_string(i)).c_str()));
      memories_.push_back(std::make_unique<FixedLatencyMemory>(("memory" + std::to_string(i)).c_str(), kSpan,
                                                               sc_time(kMemNs, SC_NS)));
      sources_[i]->socket.bind(ocs_->in);
      ocs_->out.bind(memories_[i]->target);
    }
    runner_ = std::make_unique<Runner>("runner");
  }

  std::unique_ptr<OpticalCircuitSwitch> ocs_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<std::unique_ptr<FixedLatencyMemory>> memories_;
  std::unique_ptr<Runner> runner_;
};

double Ns(sc_time t) {
  return t.to_seconds() * 1e9;
}

TEST_F(OcsTest, AReconfigurationDelaysExactlyTheTrafficThatNeedsIt) {
  Build();
  sc_time t0 = sc_time(1000, SC_NS);
  sc_time a, b, c, d, e;
  runner_->body = [&] {
    a = sources_[0]->Write(100, t0);          // port 0 -> output 0: the initial circuit
    b = sources_[0]->Write(kSpan + 100, a);   // port 0 -> output 1: needs a circuit
    c = sources_[0]->Write(kSpan + 200, b);   // the circuit is up now
    d = sources_[1]->Write(kSpan + 300, t0);  // port 1 lost output 1 to port 0... and wants it back
    e = sources_[1]->Write(kSpan + 400, d);   // then it is up for port 1
  };
  sc_core::sc_start();
  EXPECT_DOUBLE_EQ(Ns(a - t0), kMemNs);
  EXPECT_DOUBLE_EQ(Ns(b - a), kReconfigUs * 1000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(c - b), kMemNs);
  EXPECT_DOUBLE_EQ(Ns(d - t0), kReconfigUs * 1000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(e - d), kMemNs);
  EXPECT_EQ(ocs_->reconfigurations(), 2u);
  EXPECT_EQ(ocs_->circuit(1), 1);
  EXPECT_EQ(ocs_->circuit(0), -1);  // port 1 took output 1 back
  EXPECT_EQ(memories_[0]->accesses(), 1u);
  EXPECT_EQ(memories_[1]->accesses(), 4u);
}

TEST_F(OcsTest, ReconfigurationWaitsForTheInputsTransferInFlight) {
  Build();
  sc_time first, second;
  runner_->body = [&] {
    first = sources_[0]->Write(0, sc_core::SC_ZERO_TIME);
    // Issued before `first` completes, to another output: the circuit can
    // only change once the first transfer is done.
    second = sources_[0]->Write(kSpan, sc_time(10, SC_NS));
  };
  sc_core::sc_start();
  EXPECT_DOUBLE_EQ(Ns(first), kMemNs);
  EXPECT_DOUBLE_EQ(Ns(second), kMemNs + kReconfigUs * 1000 + kMemNs);
}

TEST(OcsConfigTest, ReadsAndChecksItsKeys) {
  ConfigReader r =
      ConfigReader::Parse("switch:\n  impl: ocs\n  ports: 16\n  reconfig_us: 0.004\n", "sw.yaml");
  ConfigReader s = r.Section("switch");
  s.Choice({"impl", {"ocs"}, "ocs", ""});
  OcsParams p = ReadOcs(s);
  s.Finish();
  EXPECT_EQ(p.ports, 16);
  EXPECT_DOUBLE_EQ(p.reconfig_us, 0.004);
  ConfigReader bad = ConfigReader::Parse("ports: 0\n", "sw.yaml");
  EXPECT_THROW(ReadOcs(bad), ConfigError);
}

}  // namespace
}  // namespace lightloop::hw_models
