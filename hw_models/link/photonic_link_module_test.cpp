// SPDX-License-Identifier: Apache-2.0
// The TLM link against its closed form, through real sockets: a requester,
// the link and a fixed-latency memory.
#include "lightloop/hw_models/link/photonic_link_module.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>

#include "lightloop/hw_models/memory/fixed_latency_memory.h"
#include "systemc_test.h"

namespace lightloop::hw_models {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

constexpr double kMemoryNs = 80;

// Runs `body` in an SC_THREAD with an initiator socket bound to the link.
struct Requester : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Requester> socket{"socket"};
  std::function<void(Requester&)> body;
  SC_HAS_PROCESS(Requester);
  explicit Requester(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }
  void Run() { body(*this); }

  // One transfer issued at annotated time `at`; returns its completion time.
  sc_time Transfer(tlm::tlm_command cmd, uint64_t addr, unsigned char* data, uint32_t len, sc_time at,
                   tlm::tlm_response_status* status = nullptr) {
    tlm::tlm_generic_payload trans;
    trans.set_command(cmd);
    trans.set_address(addr);
    trans.set_data_ptr(data);
    trans.set_data_length(len);
    trans.set_streaming_width(len);
    trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = at - sc_core::sc_time_stamp();
    socket->b_transport(trans, delay);
    if (status != nullptr) *status = trans.get_response_status();
    return sc_core::sc_time_stamp() + delay;
  }
};

class PhotonicLinkModuleTest : public SystemCTest {
 protected:
  void Build(const PhotonicLinkParams& params) {
    requester_ = std::make_unique<Requester>("requester");
    link_ = std::make_unique<PhotonicLinkModule>("link", params);
    memory_ = std::make_unique<FixedLatencyMemory>("memory", 64 << 20, sc_time(kMemoryNs, SC_NS));
    requester_->socket.bind(link_->target);
    link_->initiator.bind(memory_->target);
  }
  void Run(std::function<void(Requester&)> body) {
    requester_->body = std::move(body);
    sc_core::sc_start();
  }

  std::unique_ptr<Requester> requester_;
  std::unique_ptr<PhotonicLinkModule> link_;
  std::unique_ptr<FixedLatencyMemory> memory_;
};

PhotonicLinkParams Pam4() {
  PhotonicLinkParams p;
  p.wavelengths = 8;
  p.gbps_per_wavelength = 112;
  p.modulation = Modulation::kPam4;
  p.encoding = Encoding::k64b66b;
  p.fec = Fec::kRs544;
  p.fec_latency_ns = 20;
  p.serdes_latency_ns = 10;
  p.fibre_m = 2;
  return p;
}

TEST_F(PhotonicLinkModuleTest, IdleWriteAndReadMatchTheClosedForm) {
  PhotonicLinkParams p = Pam4();
  Build(p);
  LinkClosedForm cf(p);
  std::vector<unsigned char> buf(65536, 7);
  sc_time write_done, read_done;
  Run([&](Requester& r) {
    write_done = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 65536, sc_core::SC_ZERO_TIME);
    read_done = r.Transfer(tlm::TLM_READ_COMMAND, 0, buf.data(), 65536, write_done);
  });
  // A write: its data one way, the memory, a one-flit acknowledgement back.
  double write_ns = cf.TransferLatencyNs(65536) + kMemoryNs + cf.TransferLatencyNs(1);
  EXPECT_NEAR(write_done.to_seconds() * 1e9, write_ns, write_ns * 1e-3);
  // A read: a one-flit request, the memory, the data back.
  double read_ns = cf.TransferLatencyNs(1) + kMemoryNs + cf.TransferLatencyNs(65536);
  EXPECT_NEAR((read_done - write_done).to_seconds() * 1e9, read_ns, read_ns * 1e-3);
}

TEST_F(PhotonicLinkModuleTest, DataCrossesTheLinkForReal) {
  Build(Pam4());
  std::vector<unsigned char> out(10000), back(10000, 0);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(i * 31 + 7);
  Run([&](Requester& r) {
    sc_time t = r.Transfer(tlm::TLM_WRITE_COMMAND, 12345, out.data(), 10000, sc_core::SC_ZERO_TIME);
    r.Transfer(tlm::TLM_READ_COMMAND, 12345, back.data(), 10000, t);
  });
  EXPECT_EQ(back, out);
  EXPECT_EQ(link_->payload_bytes(), 20000u);
  EXPECT_EQ(memory_->accesses(), 2u);
}

TEST_F(PhotonicLinkModuleTest, SaturatedWritesReachTheClosedFormBandwidth) {
  PhotonicLinkParams p = Pam4();
  Build(p);
  constexpr int kOps = 2000, kDepth = 16;
  constexpr uint32_t kSize = 65536;
  std::vector<unsigned char> buf(kSize, 1);
  sc_time last;
  Run([&](Requester& r) {
    std::deque<sc_time> inflight;
    sc_time issue = sc_core::SC_ZERO_TIME;
    for (int i = 0; i < kOps; ++i) {
      if (inflight.size() == kDepth) {
        issue = std::max(issue, inflight.front());
        inflight.pop_front();
      }
      inflight.push_back(
          r.Transfer(tlm::TLM_WRITE_COMMAND, (i % 512) * uint64_t{kSize}, buf.data(), kSize, issue));
    }
    last = inflight.back();
  });
  double gbps = static_cast<double>(kOps) * kSize / (last.to_seconds() * 1e9);  // bytes per ns = GB/s
  double expect = LinkClosedForm(p).PayloadGBps();
  EXPECT_NEAR(gbps, expect, expect * 0.01) << "simulated " << gbps << " GB/s vs closed form " << expect;
  EXPECT_GT(link_->busy_request().to_seconds(), 0.98 * last.to_seconds());  // the request side saturated
}

TEST_F(PhotonicLinkModuleTest, AnAddressErrorComesBackWithoutData) {
  Build(Pam4());
  std::vector<unsigned char> buf(4096);
  tlm::tlm_response_status status = tlm::TLM_INCOMPLETE_RESPONSE;
  Run([&](Requester& r) {
    r.Transfer(tlm::TLM_READ_COMMAND, (64 << 20) - 100, buf.data(), 4096, sc_core::SC_ZERO_TIME, &status);
  });
  EXPECT_EQ(status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_EQ(link_->payload_bytes(), 0u);
  EXPECT_EQ(memory_->accesses(), 0u);
}

// Saturating writes; returns the simulated payload GB/s.
double SaturateWrites(Requester& r, int ops, uint32_t size) {
  std::vector<unsigned char> buf(size, 1);
  std::deque<sc_time> inflight;
  sc_time issue = sc_core::SC_ZERO_TIME;
  for (int i = 0; i < ops; ++i) {
    if (inflight.size() == 16) {
      issue = std::max(issue, inflight.front());
      inflight.pop_front();
    }
    inflight.push_back(
        r.Transfer(tlm::TLM_WRITE_COMMAND, (i % 512) * uint64_t{size}, buf.data(), size, issue));
  }
  return static_cast<double>(ops) * size / (inflight.back().to_seconds() * 1e9);
}

TEST_F(PhotonicLinkModuleTest, BitErrorsCostTheExpectedReplays) {
  PhotonicLinkParams p;  // 16 x 32 Gb/s, 256-byte flits
  p.ber = 4.9e-7;        // about one flit in a thousand
  Build(p);
  double gbps = 0;
  Run([&](Requester& r) { gbps = SaturateWrites(r, 2000, 65536); });
  LinkClosedForm cf(p);
  uint64_t data_flits = link_->flits_sent() - link_->flits_replayed();
  double expected = cf.FlitErrorProbability() * static_cast<double>(data_flits);
  double sigma = std::sqrt(expected);
  EXPECT_NEAR(static_cast<double>(link_->flit_errors()), expected, 5 * sigma)
      << link_->flit_errors() << " errors in " << data_flits << " flits";
  EXPECT_EQ(link_->flits_replayed(), link_->flit_errors() * static_cast<uint64_t>(cf.ReplayFlits()));
  // Goodput: the closed form with replays, within what the error count's spread allows.
  double expect = cf.ExpectedGoodputGBps();
  EXPECT_NEAR(gbps, expect, expect * 0.005) << "simulated " << gbps << " vs " << expect;
  EXPECT_LT(gbps, cf.PayloadGBps() * 0.995);
}

TEST_F(PhotonicLinkModuleTest, TheSameSeedGivesTheSameRun) {
  PhotonicLinkParams p;
  p.ber = 1e-5;
  p.seed = 42;
  // Two identical chains in one simulation, driven identically.
  Build(p);
  Requester second("second");
  PhotonicLinkModule link2("link2", p);
  FixedLatencyMemory memory2("memory2", 64 << 20, sc_time(kMemoryNs, SC_NS));
  second.socket.bind(link2.target);
  link2.initiator.bind(memory2.target);
  double a = 0, b = 0;
  second.body = [&](Requester& r) { b = SaturateWrites(r, 300, 65536); };
  Run([&](Requester& r) { a = SaturateWrites(r, 300, 65536); });
  EXPECT_GT(link_->flit_errors(), 0u);
  EXPECT_EQ(link_->flit_errors(), link2.flit_errors());
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace lightloop::hw_models
