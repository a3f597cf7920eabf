// SPDX-License-Identifier: Apache-2.0
// The TLM link against its closed form, through real sockets: a requester,
// the link and a fixed-latency memory.
#include "lightloop/hw_models/link/photonic_link_module.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <random>

#include "lightloop/hw_models/memory/fixed_latency_memory.h"
#include "systemc_test.h"
#include "tlm_test_requester.h"

namespace lightloop::hw_models {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;
using sc_core::SC_US;

constexpr double kMemoryNs = 80;

// A second thread, e.g. one that powers the link down and up.
struct Controller : sc_core::sc_module {
  std::function<void()> body;
  SC_HAS_PROCESS(Controller);
  explicit Controller(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }
  void Run() { body(); }
};

void WaitUntil(sc_time t) {
  sc_core::wait(t - sc_core::sc_time_stamp());
}

double Ns(sc_time t) {
  return t.to_seconds() * 1e9;
}

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

// --- Credit flow control ---

// The definition, one flit at a time: flit k starts after flit k-1 and once
// the credit of flit k-credits is back, a round trip after that flit started.
class PerFlitCredits {
 public:
  PerFlitCredits(size_t credits, double flit_ns, double round_trip_ns)
      : credits_(credits), flit_ns_(flit_ns), round_trip_ns_(round_trip_ns) {}
  double Send(uint64_t flits, double ready_ns) {
    double start = 0;
    for (uint64_t k = 0; k < flits; ++k) {
      start = std::max(ready_ns, free_ns_);
      if (returns_.size() == credits_) {
        start = std::max(start, returns_.front());
        returns_.pop_front();
      }
      returns_.push_back(start + round_trip_ns_);
      free_ns_ = start + flit_ns_;
    }
    return start;
  }

 private:
  size_t credits_;
  double flit_ns_, round_trip_ns_;
  double free_ns_ = -std::numeric_limits<double>::infinity();
  std::deque<double> returns_;
};

TEST(CreditWindowTest, MatchesAPerFlitReferenceOnRandomTraffic) {
  struct Case {
    int64_t credits;
    double flit_ns, round_trip_ns;
  };
  for (Case c : {Case{1, 4, 514}, Case{3, 4, 50}, Case{8, 4, 514}, Case{64, 2.3, 1000}, Case{16, 4, 64},
                 Case{16, 4, 40}}) {
    CreditWindow window(c.credits, c.flit_ns, c.round_trip_ns);
    EXPECT_EQ(window.limits(), static_cast<double>(c.credits) * c.flit_ns < c.round_trip_ns);
    PerFlitCredits reference(static_cast<size_t>(c.credits), c.flit_ns, c.round_trip_ns);
    std::mt19937_64 rng(static_cast<uint64_t>(c.credits) * 7919);
    std::uniform_int_distribution<uint64_t> small(1, 3 * static_cast<uint64_t>(c.credits) + 2);
    std::uniform_real_distribution<double> gap(0, 2 * c.round_trip_ns);
    double ready = 0;
    for (int i = 0; i < 3000; ++i) {
      uint64_t flits = i % 50 == 0 ? 5000 : small(rng);  // now and then a large transfer
      if (i % 3 == 0) ready += gap(rng);                 // else queued behind the last one
      double expect = reference.Send(flits, ready);
      double got = window.Send(flits, ready);
      ASSERT_NEAR(got, expect, 1e-6) << "credits " << c.credits << ", transfer " << i << " of " << flits;
    }
  }
}

PhotonicLinkParams LongFibre(int64_t credits) {
  PhotonicLinkParams p;  // 16 x 32 Gb/s: 4 ns flits of 248 payload bytes
  p.fibre_m = 100;       // one way 2 x 5 + 490 = 500 ns; credit round trip 4 + 500 + 10 = 514 ns
  p.credit_return_ns = 10;
  p.credits = credits;
  return p;
}

TEST_F(PhotonicLinkModuleTest, AnIdleTransferStallsOnlyPastItsCredits) {
  PhotonicLinkParams p = LongFibre(8);
  Build(p);
  LinkClosedForm cf(p);
  std::vector<unsigned char> buf(2048, 3);
  sc_time eight, nine;
  sc_time later(100, SC_US);  // every credit is back by then
  Run([&](Requester& r) {
    eight = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 8 * 248, sc_core::SC_ZERO_TIME);
    nine = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 8 * 248 + 1, later) - later;
  });
  double ack_ns = kMemoryNs + cf.TransferLatencyNs(1);
  // Eight flits fit the credits: no stall.
  EXPECT_NEAR(Ns(eight), cf.TransferLatencyNs(8 * 248) + ack_ns, 1e-3);
  // The ninth waits for the first one's credit: 514 ns after it started,
  // instead of 32 ns.
  EXPECT_NEAR(Ns(nine), cf.TransferLatencyNs(8 * 248 + 1) + (514 - 32) + ack_ns, 1e-3);
  EXPECT_NEAR(Ns(link_->credit_stall()), 514 - 32, 1e-3);
}

TEST_F(PhotonicLinkModuleTest, FewCreditsOnALongFibreGiveTheCreditLimitedBandwidth) {
  PhotonicLinkParams p = LongFibre(8);
  Build(p);
  LinkClosedForm cf(p);
  ASSERT_LT(cf.CreditLimitedGBps(), 0.1 * cf.PayloadGBps());
  double gbps = 0;
  sc_time end;
  Run([&](Requester& r) {
    gbps = SaturateWrites(r, 300, 65536);
    end = sc_core::sc_time_stamp();
  });
  double expect = cf.CreditLimitedGBps();
  EXPECT_NEAR(gbps, expect, expect * 0.01) << "simulated " << gbps << " GB/s vs closed form " << expect;
  // The request side was either sending or waiting for credits.
  double last_s = 300 * 65536 / (gbps * 1e9);
  double accounted = (link_->busy_request() + link_->credit_stall()).to_seconds();
  EXPECT_NEAR(accounted, last_s, last_s * 0.01);
}

TEST_F(PhotonicLinkModuleTest, AmpleCreditsLeaveTheBandwidthUnchanged) {
  PhotonicLinkParams p = LongFibre(129);  // 129 x 4 ns > 514 ns
  Build(p);
  double gbps = 0;
  Run([&](Requester& r) { gbps = SaturateWrites(r, 1000, 65536); });
  double expect = LinkClosedForm(p).PayloadGBps();
  EXPECT_NEAR(gbps, expect, expect * 0.01) << "simulated " << gbps << " GB/s vs closed form " << expect;
  EXPECT_EQ(link_->credit_stall(), sc_core::SC_ZERO_TIME);
}

TEST_F(PhotonicLinkModuleTest, ReplaysAndCreditsTogetherGiveTheExpectedGoodput) {
  PhotonicLinkParams p = LongFibre(8);
  p.ber = 4.9e-7;  // about one flit in a thousand; each costs 8 flits (the credits)
  Build(p);
  double gbps = 0;
  Run([&](Requester& r) { gbps = SaturateWrites(r, 300, 65536); });
  LinkClosedForm cf(p);
  EXPECT_GT(link_->flit_errors(), 30u);
  double expect = cf.ExpectedGoodputGBps();
  EXPECT_NEAR(gbps, expect, expect * 0.005) << "simulated " << gbps << " vs " << expect;
}

// --- Link state ---

PhotonicLinkParams WarmingLink(bool initially_up) {
  PhotonicLinkParams p;
  p.warmup_us = 2;
  p.initially_up = initially_up;
  return p;
}

// A 64-byte write on an idle, up link: out, memory, acknowledgement back.
double IdleWriteNs(const LinkClosedForm& cf) {
  return cf.TransferLatencyNs(64) + kMemoryNs + cf.TransferLatencyNs(1);
}

TEST_F(PhotonicLinkModuleTest, AnUpLinkNeedsNoWarmUpAtStart) {
  PhotonicLinkParams p = WarmingLink(true);
  Build(p);
  std::vector<unsigned char> buf(64);
  sc_time done;
  bool up = false;
  Run([&](Requester& r) {
    up = link_->up();
    done = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_core::SC_ZERO_TIME);
  });
  EXPECT_TRUE(up);
  EXPECT_NEAR(Ns(done), IdleWriteNs(LinkClosedForm(p)), 1e-3);
}

TEST_F(PhotonicLinkModuleTest, ATransferDuringWarmUpWaitsForTheLock) {
  PhotonicLinkParams p = WarmingLink(false);
  Build(p);
  std::vector<unsigned char> buf(64);
  sc_time at_power_up, before_lock, at_lock, on_up_link;
  bool up_at_start = true, up_warming = true, up_locked = false;
  Run([&](Requester& r) {
    up_at_start = link_->up();
    WaitUntil(sc_time(1, SC_US));
    link_->PowerUp();  // carries traffic from 3 us
    up_warming = link_->up();
    at_power_up = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(1, SC_US));
    WaitUntil(sc_time(10, SC_US));
    link_->PowerDown();
    link_->PowerUp();  // from 12 us
    before_lock = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(11999, SC_NS));
    WaitUntil(sc_time(20, SC_US));
    link_->PowerDown();
    link_->PowerUp();  // from 22 us
    at_lock = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(22, SC_US));
    WaitUntil(sc_time(30, SC_US));
    up_locked = link_->up();
    on_up_link = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(30, SC_US));
  });
  EXPECT_FALSE(up_at_start);
  EXPECT_FALSE(up_warming);
  EXPECT_TRUE(up_locked);
  double idle = Ns(on_up_link) - 30000;
  EXPECT_NEAR(idle, IdleWriteNs(LinkClosedForm(p)), 1e-3);
  // Issued at the power-up: exactly the warm-up later than on an up link.
  EXPECT_NEAR(Ns(at_power_up) - 1000, 2000 + idle, 1e-3);
  // One nanosecond before the lock it waits one nanosecond; at the lock, not at all.
  EXPECT_NEAR(Ns(before_lock) - 11999, 1 + idle, 1e-3);
  EXPECT_NEAR(Ns(at_lock) - 22000, idle, 1e-3);
}

TEST_F(PhotonicLinkModuleTest, ATransferToADownLinkWaitsForPowerUp) {
  PhotonicLinkParams p = WarmingLink(true);
  Build(p);
  Controller power("power");
  power.body = [&] {
    WaitUntil(sc_time(1, SC_US));
    link_->PowerDown();
    WaitUntil(sc_time(5, SC_US));
    link_->PowerUp();  // carries traffic from 7 us
  };
  std::vector<unsigned char> buf(64);
  sc_time done, returned;
  bool up_when_issued = true;
  Run([&](Requester& r) {
    WaitUntil(sc_time(2, SC_US));
    up_when_issued = link_->up();
    done = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(2, SC_US));
    returned = sc_core::sc_time_stamp();
  });
  EXPECT_FALSE(up_when_issued);
  EXPECT_EQ(returned, sc_time(5, SC_US));  // b_transport waited for the power-up
  EXPECT_NEAR(Ns(done), 7000 + IdleWriteNs(LinkClosedForm(p)), 1e-3);
  EXPECT_EQ(memory_->accesses(), 1u);
}

TEST_F(PhotonicLinkModuleTest, AScheduledPowerUpDelaysWithoutWaiting) {
  PhotonicLinkParams p = WarmingLink(false);
  Build(p);
  std::vector<unsigned char> buf(64);
  sc_time done, returned;
  Run([&](Requester& r) {
    link_->PowerUpAt(sc_time(10, SC_US));  // carries traffic from 12 us
    link_->PowerUpAt(sc_time(1, SC_US));   // already powering up: no change
    done = r.Transfer(tlm::TLM_WRITE_COMMAND, 0, buf.data(), 64, sc_time(1, SC_US));
    returned = sc_core::sc_time_stamp();
  });
  EXPECT_EQ(returned, sc_core::SC_ZERO_TIME);  // loosely timed: only the annotation moved
  EXPECT_EQ(link_->up_from(), sc_time(12, SC_US));
  EXPECT_NEAR(Ns(done), 12000 + IdleWriteNs(LinkClosedForm(p)), 1e-3);
}

}  // namespace
}  // namespace lightloop::hw_models
