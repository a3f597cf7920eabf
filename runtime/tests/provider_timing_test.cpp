// SPDX-License-Identifier: Apache-2.0
// Where transfer times come from (FI_LIGHTLOOP_TIMING). With the default,
// tlm, the node's SystemC TLM-2.0 modules time every transfer: the node has
// one front end, so two initiators writing at once share its link and
// together get the link's rate. With closed_form each initiator endpoint
// has a link of its own, so together they get twice that. The timing model
// is chosen when the process first opens the provider: each test needs a
// process of its own (ctest runs them so; a plain run skips the others).
#include <cstdio>
#include <cstdlib>
#include <systemc>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"
#include "provider_fixture.h"

namespace lightloop::runtime::testing {
namespace {

constexpr uint64_t kRemote = FI_REMOTE_READ | FI_REMOTE_WRITE;
bool gOpened = false;  // NOLINT: the provider's fabric is one per process

class ProviderTiming : public ProviderTest {
 protected:
  // Opens the provider with FI_LIGHTLOOP_TIMING=`timing`, then two
  // initiators and a target.
  void Open(const char* timing) {
    if (gOpened) GTEST_SKIP() << "this process's provider already chose its timing; run the test alone";
    gOpened = true;
    setenv("FI_LIGHTLOOP_TIMING", timing, 1);
    ProviderTest::SetUp();
    a_ = OpenPeer();
    c_ = OpenPeer();
    target_ = OpenPeer();
    a_to_t_ = Insert(a_, target_);
    c_to_t_ = Insert(c_, target_);
  }
  void SetUp() override {}  // Open() does it, with the timing model

  // Both initiators write `count` x 1 MiB each, `depth` in flight each,
  // posting in turn; returns the aggregate GB/s in virtual time.
  double TwoStreams(int count, int depth) {
    constexpr size_t kSize = 1 << 20;
    std::vector<uint8_t> src(kSize, 0x5a), region(2 * kSize, 0);
    fid_mr* mr = Register(region.data(), region.size(), kRemote);
    const uint64_t start = NowPs();
    struct Stream {
      Peer* from;
      fi_addr_t to;
      uint64_t offset;
      int posted = 0, done = 0;
    } streams[2] = {{&a_, a_to_t_, 0}, {&c_, c_to_t_, kSize}};
    auto post = [&](Stream& s) {
      EXPECT_EQ(fi_write(s.from->ep, src.data(), kSize, nullptr, s.to,
                         RemoteAddr(mr, region.data(), s.offset), fi_mr_key(mr), nullptr),
                0);
      ++s.posted;
    };
    for (int i = 0; i < depth; ++i) {
      for (Stream& s : streams) post(s);
    }
    while (streams[0].done < count || streams[1].done < count) {
      for (Stream& s : streams) {
        if (s.done == count) continue;
        fi_cq_data_entry e{};
        EXPECT_EQ(Poll(s.from->cq, &e), 1);
        ++s.done;
        if (s.posted < count) post(s);
      }
    }
    EXPECT_EQ(std::vector<uint8_t>(region.begin(), region.begin() + kSize), src);
    return 2.0 * kSize * count / (static_cast<double>(NowPs() - start) / 1000.0);
  }

  double LinkGBps() const {
    hw_models::NodeConfig node = hw_models::ReadNode(LIGHTLOOP_DEFAULT_NODE_CONFIG);
    return hw_models::LinkClosedForm(*node.link->photonic()).PayloadGBps() * static_cast<double>(node.rails);
  }

  Peer a_, c_, target_;
  fi_addr_t a_to_t_ = 0, c_to_t_ = 0;
};

TEST_F(ProviderTiming, TwoInitiatorsShareTheNodesLinkUnderTlm) {
  Open("tlm");
  if (IsSkipped()) return;
  const double gbps = TwoStreams(32, 8), link = LinkGBps();
  std::printf("tlm: two initiators together %.3f GB/s, the node's link %.3f GB/s (ratio %.4f)\n", gbps, link,
              gbps / link);
  EXPECT_NEAR(gbps, link, link * 0.03);
}

// The provider's clock is the SystemC kernel's: after 50 us of compute a
// write is issued at the clock's time, and the kernel (libsystemc is one
// per process, shared with this test) stands at most a quantum (1 us) behind.
TEST_F(ProviderTiming, TheSystemCKernelFollowsTheClock) {
  Open("tlm");
  if (IsSkipped()) return;
  ASSERT_EQ(clock()->advance_ns(&domain_->fid, 50'000), 0);
  std::vector<uint8_t> src(64, 1), region(64, 0);
  fid_mr* mr = Register(region.data(), region.size(), kRemote);
  const uint64_t issued = NowPs();
  ASSERT_EQ(fi_write(a_.ep, src.data(), src.size(), nullptr, a_to_t_, RemoteAddr(mr, region.data(), 0),
                     fi_mr_key(mr), nullptr),
            0);
  fi_cq_data_entry e{};
  ASSERT_EQ(Poll(a_.cq, &e), 1);
  EXPECT_EQ(region, src);
  const double kernel_ps = sc_core::sc_time_stamp().to_seconds() * 1e12;
  std::printf("write issued at %.0f ps of the provider's clock; SystemC kernel at %.0f ps\n",
              static_cast<double>(issued), kernel_ps);
  EXPECT_LE(kernel_ps, static_cast<double>(issued));
  EXPECT_GE(kernel_ps, static_cast<double>(issued) - 1e6);
  EXPECT_GE(issued, 50'000'000u);
}

TEST_F(ProviderTiming, ClosedFormGivesEachInitiatorALinkOfItsOwn) {
  Open("closed_form");
  if (IsSkipped()) return;
  const double gbps = TwoStreams(32, 8), link = LinkGBps();
  std::printf("closed_form: two initiators together %.3f GB/s, twice the link %.3f GB/s (ratio %.4f)\n", gbps,
              2 * link, gbps / (2 * link));
  EXPECT_NEAR(gbps, 2 * link, 2 * link * 0.03);
}

}  // namespace
}  // namespace lightloop::runtime::testing
