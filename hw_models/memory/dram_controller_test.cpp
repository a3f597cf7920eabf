// SPDX-License-Identifier: Apache-2.0
// The DRAM controller through its TLM-2.0 socket: data is real, bad
// addresses are refused, the loosely-timed and approximately-timed paths
// give the engine's latencies, CXL adds its port latency both ways, and
// concurrent initiators contend in the command-level queues.
#include "lightloop/hw_models/memory/dram_controller.h"

#include <tlm_utils/peq_with_get.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <cmath>
#include <functional>
#include <vector>

#include "systemc_test.h"

namespace lightloop::hw_models {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

DramParams LoadDram(const std::string& preset, DramFidelity fidelity) {
  ConfigReader top = ConfigReader::Load(std::string(LIGHTLOOP_HW_PRESETS) + "/memory/" + preset);
  ConfigReader section = top.Section("memory");
  section.Scalar("impl");
  DramParams p = ReadDram(section);
  p.fidelity = fidelity;
  return p;
}

// Runs `body` in a thread with a socket bound to the controller.
struct Initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Initiator> socket{"socket"};
  std::function<void(Initiator&)> body;
  SC_HAS_PROCESS(Initiator);
  Initiator(sc_core::sc_module_name name, std::function<void(Initiator&)> f)
      : sc_module(name), body(std::move(f)) {
    SC_THREAD(Run);
  }
  void Run() { body(*this); }

  // A blocking access; returns the latency it saw (annotated plus waited).
  sc_time Access(tlm::tlm_command cmd, uint64_t address, std::vector<unsigned char>& data,
                 tlm::tlm_response_status* status = nullptr) {
    tlm::tlm_generic_payload trans;
    trans.set_command(cmd);
    trans.set_address(address);
    trans.set_data_ptr(data.data());
    trans.set_data_length(static_cast<unsigned>(data.size()));
    trans.set_streaming_width(static_cast<unsigned>(data.size()));
    trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time start = sc_core::sc_time_stamp();
    sc_time delay = sc_core::SC_ZERO_TIME;
    socket->b_transport(trans, delay);
    if (status) *status = trans.get_response_status();
    return sc_core::sc_time_stamp() - start + delay;
  }
};

class DramControllerTest : public SystemCTest, public ::testing::WithParamInterface<DramFidelity> {};

TEST_P(DramControllerTest, DataIsRealAndBadAddressesAreRefused) {
  DramController dram("dram", LoadDram("ddr5_4800.yaml", GetParam()));
  std::vector<unsigned char> out(10000), in(10000);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(i * 7 + 1);
  tlm::tlm_response_status status{}, bad{};
  Initiator cpu("cpu", [&](Initiator& self) {
    self.Access(tlm::TLM_WRITE_COMMAND, (5ull << 30) + 3, out);
    self.Access(tlm::TLM_READ_COMMAND, (5ull << 30) + 3, in, &status);
    std::vector<unsigned char> one(64);
    self.Access(tlm::TLM_READ_COMMAND, dram.params().capacity() - 32, one, &bad);
  });
  cpu.socket.bind(dram.target);
  sc_core::sc_start();
  EXPECT_EQ(status, tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(in, out);
  EXPECT_EQ(bad, tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

TEST_P(DramControllerTest, CxlPortLatencyIsPaidBothWays) {
  DramParams p = LoadDram("cxl_ddr5_4800.yaml", GetParam());
  DramController dram("dram", p);
  sc_time first, hit, hit_start;
  Initiator cpu("cpu", [&](Initiator& self) {
    std::vector<unsigned char> burst(64);
    first = self.Access(tlm::TLM_READ_COMMAND, 0, burst);
    sc_core::wait(1, sc_core::SC_US);
    // Same channel, bank group, bank and row; the next column (bits 10 up).
    hit_start = sc_core::sc_time_stamp();
    hit = self.Access(tlm::TLM_READ_COMMAND, 1024, burst);
  });
  cpu.socket.bind(dram.target);
  sc_core::sc_start();
  DramClosedForm cf(p);
  // The request reaches the controller after the port latency and waits for
  // the next clock edge; the response pays the port latency again.
  auto in_ns = [&](sc_time start) {
    double start_ns = start.to_seconds() * 1e9, arrive = start_ns + p.port_latency_ns;
    return std::ceil(arrive / p.tck_ns - 1e-6) * p.tck_ns - start_ns;
  };
  EXPECT_NEAR(first.to_seconds() * 1e9, in_ns(sc_core::SC_ZERO_TIME) + cf.RowMissNs() + p.port_latency_ns,
              1e-3);
  EXPECT_NEAR(hit.to_seconds() * 1e9, in_ns(hit_start) + cf.RowHitNs() + p.port_latency_ns, 1e-3);
}

// An approximately-timed initiator: sends every request at once, takes
// each BEGIN_RESP with TLM_ACCEPTED and ends it 10 ns later.
struct AtInitiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<AtInitiator> socket{"socket"};
  std::vector<tlm::tlm_generic_payload> requests;
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<sc_time> responded;  // per request
  std::vector<sc_time> ended;      // END_RESP times, in order
  std::vector<sc_time> begun;      // BEGIN_RESP times, in order
  tlm_utils::peq_with_get<tlm::tlm_generic_payload> to_end{"to_end"};
  SC_HAS_PROCESS(AtInitiator);
  AtInitiator(sc_core::sc_module_name name, int n) : sc_module(name), requests(n), buffers(n), responded(n) {
    socket.register_nb_transport_bw(this, &AtInitiator::nb_transport_bw);
    SC_THREAD(Send);
    SC_THREAD(End);
  }
  void Send() {
    for (size_t i = 0; i < requests.size(); ++i) {
      buffers[i].assign(64, 0);
      tlm::tlm_generic_payload& t = requests[i];
      t.set_command(tlm::TLM_READ_COMMAND);
      t.set_address(i * 128 * 4096);  // another bank (or row) each time
      t.set_data_ptr(buffers[i].data());
      t.set_data_length(64);
      t.set_streaming_width(64);
      tlm::tlm_phase phase = tlm::BEGIN_REQ;
      sc_time delay = sc_core::SC_ZERO_TIME;
      EXPECT_EQ(socket->nb_transport_fw(t, phase, delay), tlm::TLM_UPDATED);
      EXPECT_EQ(phase, tlm::END_REQ);
    }
  }
  tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload& t, tlm::tlm_phase& phase, sc_time&) {
    EXPECT_EQ(phase, tlm::BEGIN_RESP);
    size_t i = static_cast<size_t>(&t - requests.data());
    responded[i] = sc_core::sc_time_stamp();
    begun.push_back(sc_core::sc_time_stamp());
    to_end.notify(t, sc_time(10, SC_NS));
    return tlm::TLM_ACCEPTED;
  }
  void End() {
    for (;;) {
      sc_core::wait(to_end.get_event());
      while (tlm::tlm_generic_payload* t = to_end.get_next_transaction()) {
        tlm::tlm_phase phase = tlm::END_RESP;
        sc_time delay = sc_core::SC_ZERO_TIME;
        ended.push_back(sc_core::sc_time_stamp());
        socket->nb_transport_fw(*t, phase, delay);
      }
    }
  }
};

TEST_P(DramControllerTest, ApproximatelyTimedRequestsGetOneResponseAtATime) {
  DramParams p = LoadDram("ddr5_4800.yaml", GetParam());
  DramController dram("dram", p);
  const int kRequests = 8;
  AtInitiator cpu("cpu", kRequests);
  cpu.socket.bind(dram.target);
  sc_core::sc_start(100, sc_core::SC_US);
  ASSERT_EQ(cpu.ended.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(cpu.requests[static_cast<size_t>(i)].get_response_status(), tlm::TLM_OK_RESPONSE);
  }
  // The first response comes after a row miss; no BEGIN_RESP before the
  // previous END_RESP.
  EXPECT_NEAR(cpu.begun.front().to_seconds() * 1e9, DramClosedForm(p).RowMissNs(), 1e-3);
  for (size_t i = 1; i < cpu.begun.size(); ++i) EXPECT_GE(cpu.begun[i], cpu.ended[i - 1]) << i;
  EXPECT_EQ(dram.accesses(), static_cast<uint64_t>(kRequests));
}

INSTANTIATE_TEST_SUITE_P(Fidelities, DramControllerTest,
                         ::testing::Values(DramFidelity::kCommand, DramFidelity::kTransaction),
                         [](const auto& info) {
                           return info.param == DramFidelity::kCommand ? "command" : "transaction";
                         });

TEST_F(SystemCTest, DramConcurrentInitiatorsShareTheChannel) {
  DramParams p = LoadDram("ddr5_4800.yaml", DramFidelity::kCommand);
  DramController dram("dram", p);
  const int kThreads = 4;
  std::vector<sc_time> latency(kThreads);
  std::vector<std::unique_ptr<Initiator>> cpus;
  for (int i = 0; i < kThreads; ++i) {
    cpus.push_back(std::make_unique<Initiator>(sc_core::sc_gen_unique_name("cpu"), [&, i](Initiator& self) {
      std::vector<unsigned char> block(65536);
      latency[static_cast<size_t>(i)] =
          self.Access(tlm::TLM_READ_COMMAND, static_cast<uint64_t>(i) << 16, block);
    }));
  }
  // One socket per initiator: a small interconnect in front of the controller.
  struct Fan : sc_core::sc_module {
    std::vector<std::unique_ptr<tlm_utils::simple_target_socket_tagged<Fan>>> in;
    tlm_utils::simple_initiator_socket<Fan> out{"out"};
    explicit Fan(sc_core::sc_module_name n, int ports) : sc_module(n) {
      for (int i = 0; i < ports; ++i) {
        in.push_back(
            std::make_unique<tlm_utils::simple_target_socket_tagged<Fan>>(sc_core::sc_gen_unique_name("in")));
        in.back()->register_b_transport(this, &Fan::Forward, i);
      }
    }
    void Forward(int, tlm::tlm_generic_payload& t, sc_time& d) { out->b_transport(t, d); }
  } fan("fan", kThreads);
  for (int i = 0; i < kThreads; ++i)
    cpus[static_cast<size_t>(i)]->socket.bind(*fan.in[static_cast<size_t>(i)]);
  fan.out.bind(dram.target);
  sc_core::sc_start();
  // Four 64 KiB reads at once share one channel pair: the last one finishes
  // after all four transfers' data time, not after one.
  DramClosedForm cf(p);
  double one_ns = 65536 / cf.PeakGBps();
  std::sort(latency.begin(), latency.end());
  EXPECT_GT(latency.back().to_seconds() * 1e9, 4 * one_ns);
  EXPECT_LT(latency.front().to_seconds() * 1e9, 2 * one_ns);
}

}  // namespace
}  // namespace lightloop::hw_models
