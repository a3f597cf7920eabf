// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/switch/optical_circuit_switch.h"

#include <gmock/gmock.h>
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
using sc_core::SC_US;
using ::testing::HasSubstr;

constexpr uint64_t kSpan = 1 << 20;
constexpr double kMemNs = 50;
constexpr double kReconfigUs = 10;

struct Source : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Source> socket{"socket"};
  explicit Source(sc_core::sc_module_name name) : sc_module(name) {}
  // A 64-byte write to `addr` issued at `at`; its completion time. Without
  // `status`, the write must succeed.
  sc_time Write(uint64_t addr, sc_time at, tlm::tlm_response_status* status = nullptr) {
    unsigned char data[64] = {};
    tlm::tlm_generic_payload trans;
    trans.set_command(tlm::TLM_WRITE_COMMAND);
    trans.set_address(addr);
    trans.set_data_ptr(data);
    trans.set_data_length(64);
    trans.set_streaming_width(64);
    sc_time delay = at - sc_core::sc_time_stamp();
    trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    socket->b_transport(trans, delay);
    if (status != nullptr) {
      *status = trans.get_response_status();
    } else {
      EXPECT_TRUE(trans.is_response_ok());
    }
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
  void Build(OcsParams p = {.ports = 2, .reconfig_us = kReconfigUs, .port_span = kSpan}) {
    ocs_ = std::make_unique<OpticalCircuitSwitch>("ocs", p);
    for (int i = 0; i < p.ports; ++i) {
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

// Three ports, reconfig 10 us. Input 0 moves to output 1 at 0 us (taking it
// from input 1), input 1 to output 0 at 100 us, and input 2 takes output 1
// from input 0 at 300 us.
OcsParams Scheduled() {
  OcsParams p{.ports = 3, .reconfig_us = kReconfigUs, .port_span = kSpan};
  p.policy = CircuitPolicy::kScheduled;
  p.schedule = {{0, 0, 1}, {100, 1, 0}, {300, 2, 1}};
  return p;
}

TEST_F(OcsTest, AScheduledCircuitIsWaitedForExactly) {
  Build(Scheduled());
  sc_time early, just_before, at_up, later, other_way;
  int during = 0, after = 0;
  runner_->body = [&] {
    early = sources_[0]->Write(kSpan, sc_time(1, SC_US));           // 0 -> 1 is up at 0 + 10 us
    just_before = sources_[0]->Write(kSpan, sc_time(9999, SC_NS));  // behind it, but waits 1 ns
    at_up = sources_[0]->Write(kSpan + 64, sc_time(10, SC_US));
    later = sources_[0]->Write(kSpan, sc_time(200, SC_US));  // still up: not delayed
    other_way = sources_[1]->Write(0, sc_time(20, SC_US));   // 1 -> 0 is up at 110 us
    during = ocs_->circuit(0);                               // at time 0: being set up
    sc_core::wait(sc_time(10, SC_US));
    after = ocs_->circuit(0);
  };
  sc_core::sc_start();
  EXPECT_DOUBLE_EQ(Ns(early), 10000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(just_before), 10000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(at_up), 10000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(later), 200000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(other_way), 110000 + kMemNs);
  EXPECT_EQ(during, -1);
  EXPECT_EQ(after, 1);
  EXPECT_EQ(memories_[1]->accesses(), 4u);
}

TEST_F(OcsTest, EstablishedCircuitsAreNotDelayedByTheSchedule) {
  Build(Scheduled());
  sc_time before_change, during_others, before_takeover;
  runner_->body = [&] {
    before_change = sources_[2]->Write(2 * kSpan, sc_time(1, SC_US));      // 2 -> 2 from the start
    during_others = sources_[2]->Write(2 * kSpan, sc_time(105, SC_US));    // while 1 -> 0 is set up
    before_takeover = sources_[2]->Write(2 * kSpan, sc_time(299, SC_US));  // the last moment before 300 us
  };
  sc_core::sc_start();
  EXPECT_DOUBLE_EQ(Ns(before_change), 1000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(during_others), 105000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(before_takeover), 299000 + kMemNs);
}

TEST_F(OcsTest, AnOutputTheScheduleNeverConnectsIsAnError) {
  Build(Scheduled());
  tlm::tlm_response_status never_again = tlm::TLM_OK_RESPONSE, torn_down = tlm::TLM_OK_RESPONSE,
                           gone = tlm::TLM_OK_RESPONSE;
  sc_time replacement;
  runner_->body = [&] {
    sources_[0]->Write(0, sc_time(1, SC_US), &never_again);        // 0 -> 0 went away at 0 us
    sources_[0]->Write(kSpan, sc_time(305, SC_US), &torn_down);    // 0 -> 1 went away at 300 us
    sources_[2]->Write(2 * kSpan, sc_time(305, SC_US), &gone);     // so did 2 -> 2
    replacement = sources_[2]->Write(kSpan, sc_time(305, SC_US));  // 2 -> 1 is up at 310 us
  };
  sc_core::sc_start();
  EXPECT_EQ(never_again, tlm::TLM_GENERIC_ERROR_RESPONSE);
  EXPECT_EQ(torn_down, tlm::TLM_GENERIC_ERROR_RESPONSE);
  EXPECT_EQ(gone, tlm::TLM_GENERIC_ERROR_RESPONSE);
  EXPECT_DOUBLE_EQ(Ns(replacement), 310000 + kMemNs);
  EXPECT_EQ(memories_[0]->accesses(), 0u);
  EXPECT_EQ(memories_[2]->accesses(), 0u);
  EXPECT_EQ(ocs_->reconfigurations(), 3u);
}

TEST_F(OcsTest, AChangeToACircuitThatIsUpCostsNothing) {
  OcsParams p = Scheduled();
  p.schedule = {{0, 2, 2}, {50, 0, 1}, {60, 0, 1}};  // 2 -> 2 is there already; 0 -> 1 is being set up
  Build(p);
  sc_time a, b;
  runner_->body = [&] {
    a = sources_[2]->Write(2 * kSpan, sc_time(1, SC_US));
    b = sources_[0]->Write(kSpan, sc_time(61, SC_US));
  };
  sc_core::sc_start();
  EXPECT_DOUBLE_EQ(Ns(a), 1000 + kMemNs);
  EXPECT_DOUBLE_EQ(Ns(b), 61000 + kMemNs);  // up since 60 us, not set up again
  EXPECT_EQ(ocs_->reconfigurations(), 1u);  // only 0 -> 1 at 50 us changed anything
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
  EXPECT_EQ(p.policy, CircuitPolicy::kOnDemand);
  EXPECT_TRUE(p.schedule.empty());
  ConfigReader bad = ConfigReader::Parse("ports: 0\n", "sw.yaml");
  EXPECT_THROW(ReadOcs(bad), ConfigError);
}

TEST(OcsConfigTest, ReadsASchedule) {
  ConfigReader r = ConfigReader::Parse(
      "switch:\n"
      "  ports: 4\n"
      "  policy: scheduled\n"
      "  schedule:\n"
      "    - {at_us: 0, input: 0, output: 1}\n"
      "    - at_us: 2.5\n"
      "      input: 3\n"
      "      output: 0\n",
      "sw.yaml");
  ConfigReader s = r.Section("switch");
  OcsParams p = ReadOcs(s);
  s.Finish();
  EXPECT_EQ(p.policy, CircuitPolicy::kScheduled);
  ASSERT_EQ(p.schedule.size(), 2u);
  EXPECT_DOUBLE_EQ(p.schedule[1].at_us, 2.5);
  EXPECT_EQ(p.schedule[1].input, 3);
  EXPECT_EQ(p.schedule[1].output, 0);
}

// The ConfigError that reading `schedule_lines` (under `switch:`, 4 ports,
// policy scheduled) gives.
std::string ScheduleError(const std::string& schedule_lines, const std::string& policy = "scheduled") {
  try {
    ConfigReader r = ConfigReader::Parse(
        "switch:\n  ports: 4\n  policy: " + policy + "\n  schedule:\n" + schedule_lines, "sw.yaml");
    ConfigReader s = r.Section("switch");
    ReadOcs(s);
    s.Finish();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(OcsConfigTest, BadSchedulesNameFileLineAndKey) {
  EXPECT_THAT(ScheduleError("    - {at_us: 0, input: 0, output: 1}\n    - {at_us: 5, input: 4, output: 0}\n"),
              HasSubstr("sw.yaml:6:18: key 'switch.schedule[1].input': 4 is out of range [0, 3]"));
  EXPECT_THAT(ScheduleError("    - {at_us: 0, input: 0, output: -1}\n"),
              HasSubstr("sw.yaml:5:28: key 'switch.schedule[0].output': -1 is out of range [0, 3]"));
  EXPECT_THAT(ScheduleError("    - {at_us: 5, input: 0, output: 1}\n    - {at_us: 4, input: 1, output: 0}\n"),
              HasSubstr("sw.yaml:6:8: key 'switch.schedule[1].at_us': the schedule must be in time order"));
  EXPECT_THAT(ScheduleError("    - {at_us: 0, input: 0}\n"),
              HasSubstr("sw.yaml:5:7: key 'switch.schedule[0].output': missing"));
  EXPECT_THAT(ScheduleError("    - {at_us: 0, input: 0, ouput: 1}\n"),
              HasSubstr("key 'switch.schedule[0].ouput': unknown key (did you mean 'output'?)"));
  EXPECT_THAT(ScheduleError("    - 5\n"),
              HasSubstr("sw.yaml:5:7: key 'switch.schedule[0]': expected a mapping"));
  EXPECT_THAT(ScheduleError("    5\n"), HasSubstr("sw.yaml:4:3: key 'switch.schedule': expected a list"));
  EXPECT_THAT(
      ScheduleError("    - {at_us: 0, input: 0, output: 1}\n", "on_demand"),
      HasSubstr("sw.yaml:4:3: key 'switch.schedule': a schedule is only followed with policy: scheduled"));
}

}  // namespace
}  // namespace lightloop::hw_models
