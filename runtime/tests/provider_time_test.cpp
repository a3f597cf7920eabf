// SPDX-License-Identifier: Apache-2.0
// Virtual time: measured with the provider's published clock, a lone write's
// latency is the node's closed form, writes at depth 8 fill the link to its
// closed-form payload bandwidth, advance_ns lets transfers overlap compute,
// and the same sequence of operations always takes the same virtual time.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"
#include "provider_fixture.h"

namespace lightloop::runtime::testing {
namespace {

constexpr uint64_t kRemote = FI_REMOTE_READ | FI_REMOTE_WRITE;

class ProviderTime : public ProviderTest {
 protected:
  void SetUp() override {
    ProviderTest::SetUp();
    a_ = OpenPeer();
    b_ = OpenPeer();
    a_to_b_ = Insert(a_, b_);
    node_ = hw_models::ReadNode(LIGHTLOOP_DEFAULT_NODE_CONFIG);
    ASSERT_NE(node_.link->photonic(), nullptr);
  }
  hw_models::LinkClosedForm ClosedForm() const { return hw_models::LinkClosedForm(*node_.link->photonic()); }
  // Writes `count` times `size` bytes with up to `depth` in flight; returns
  // the virtual picoseconds from the first post to the last completion.
  uint64_t WriteStream(size_t size, int count, int depth, std::vector<uint64_t>* times = nullptr) {
    std::vector<uint8_t> src(size, 0x5a);
    target_.assign(size, 0);
    fid_mr* mr = Register(target_.data(), size, kRemote);
    const uint64_t start = NowPs();
    int posted = 0, done = 0;
    for (; posted < depth && posted < count; ++posted) Post(src, mr);
    while (done < count) {
      fi_cq_data_entry e{};
      EXPECT_EQ(Poll(a_.cq, &e), 1);
      ++done;
      if (times != nullptr) times->push_back(NowPs() - start);
      if (posted < count) Post(src, mr), ++posted;
    }
    EXPECT_EQ(target_, src);
    return NowPs() - start;
  }
  void Post(const std::vector<uint8_t>& src, fid_mr* mr) {
    ASSERT_EQ(fi_write(a_.ep, src.data(), src.size(), nullptr, a_to_b_, RemoteAddr(mr, target_.data(), 0),
                       fi_mr_key(mr), nullptr),
              0);
  }

  Peer a_, b_;
  fi_addr_t a_to_b_ = 0;
  hw_models::NodeConfig node_;
  std::vector<uint8_t> target_;
};

TEST_F(ProviderTime, SmallWriteLatencyIsTheClosedForm) {
  hw_models::LinkClosedForm cf = ClosedForm();
  // Data over the link, into memory, ack back: the node's closed form.
  double expected_ns =
      cf.TransferLatencyNs(64) + node_.memory->IdleLatencyNs(true, 64) + cf.TransferLatencyNs(1);
  double measured_ns = static_cast<double>(WriteStream(64, 1, 1)) / 1000.0;
  std::printf("64 B write latency: %.3f ns in virtual time, closed form %.3f ns (ratio %.5f)\n", measured_ns,
              expected_ns, measured_ns / expected_ns);
  EXPECT_NEAR(measured_ns, expected_ns, expected_ns * 1e-3);
  // Back to back at depth 1, each one is the same.
  double mean_ns = static_cast<double>(WriteStream(64, 100, 1)) / 1000.0 / 100;
  EXPECT_NEAR(mean_ns, expected_ns, expected_ns * 1e-3);
}

TEST_F(ProviderTime, SmallReadLatencyIsTheClosedForm) {
  hw_models::LinkClosedForm cf = ClosedForm();
  // Request over the link, memory, data back.
  double expected_ns =
      cf.TransferLatencyNs(1) + node_.memory->IdleLatencyNs(false, 64) + cf.TransferLatencyNs(64);
  std::vector<uint8_t> region(64, 7), back(64, 0);
  fid_mr* mr = Register(region.data(), 64, kRemote);
  const uint64_t start = NowPs();
  ASSERT_EQ(fi_read(a_.ep, back.data(), 64, nullptr, a_to_b_, RemoteAddr(mr, region.data(), 0), fi_mr_key(mr),
                    nullptr),
            0);
  fi_cq_data_entry e{};
  ASSERT_EQ(Poll(a_.cq, &e), 1);
  double measured_ns = static_cast<double>(NowPs() - start) / 1000.0;
  EXPECT_NEAR(measured_ns, expected_ns, expected_ns * 1e-3);
  EXPECT_EQ(back, region);
}

TEST_F(ProviderTime, LargeWritesAtDepth8ReachThePayloadBandwidth) {
  constexpr size_t kSize = 1 << 20;
  constexpr int kCount = 64;
  double ns = static_cast<double>(WriteStream(kSize, kCount, 8)) / 1000.0;
  double gbps = static_cast<double>(kSize) * kCount / ns;
  double closed = ClosedForm().PayloadGBps();
  std::printf("1 MiB writes at depth 8: %.3f GB/s in virtual time, closed form %.3f GB/s (ratio %.5f)\n",
              gbps, closed, gbps / closed);
  EXPECT_NEAR(gbps, closed, closed * 0.02);
  // At depth 1 the link idles during memory and ack: slower, as it should be.
  double ns1 = static_cast<double>(WriteStream(kSize, 8, 1)) / 1000.0;
  EXPECT_LT(static_cast<double>(kSize) * 8 / ns1, gbps);
}

TEST_F(ProviderTime, AdvanceLetsTransfersOverlapCompute) {
  std::vector<uint8_t> src(64, 1);
  target_.assign(64, 0);
  fid_mr* mr = Register(target_.data(), 64, kRemote);
  const uint64_t start = NowPs();
  Post(src, mr);
  ASSERT_EQ(clock()->advance_ns(&domain_->fid, 10000), 0);  // 10 us of "compute"
  fi_cq_data_entry e{};
  ASSERT_EQ(fi_cq_read(a_.cq, &e, 1), 1);  // already done: no further jump
  EXPECT_EQ(NowPs() - start, 10000000u);
  EXPECT_EQ(fi_cq_read(a_.cq, &e, 1), -FI_EAGAIN);  // nothing pending: the clock stays
  EXPECT_EQ(NowPs() - start, 10000000u);
}

TEST_F(ProviderTime, IdenticalRunsGiveIdenticalTimes) {
  std::vector<uint64_t> first, second;
  uint64_t t1 = WriteStream(4096, 50, 4, &first) + WriteStream(1 << 20, 10, 8, &first);
  uint64_t t2 = WriteStream(4096, 50, 4, &second) + WriteStream(1 << 20, 10, 8, &second);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(first, second);
  std::printf("virtual time of the sequence: %llu ps\n", static_cast<unsigned long long>(t1));
}

// A CQ with nothing of its own pending is waiting for something another
// caller has yet to post: polling it must not move the clock, or a target's
// poller (a memnode's progress thread) would run virtual time ahead of the
// initiator.
// An inference loop polls its CQ between pieces of compute: those polls
// find nothing yet, but the caller is computing, not waiting, so the clock
// moves only by the compute and the transfer completes under it.
TEST_F(ProviderTime, PollingBetweenPiecesOfComputeDoesNotMoveTheClock) {
  std::vector<uint8_t> src(64, 3);
  target_.assign(64, 0);
  fid_mr* mr = Register(target_.data(), 64, kRemote);
  const uint64_t start = NowPs();
  Post(src, mr);
  fi_cq_data_entry e{};
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(clock()->advance_ns(&domain_->fid, 1), 0);  // 1 ns of compute, shorter than the write
    ASSERT_EQ(fi_cq_read(a_.cq, &e, 1), -FI_EAGAIN);
  }
  EXPECT_EQ(NowPs(), start + 10 * 1000) << "ten polls, ten nanoseconds of compute, no jump";
  ASSERT_EQ(clock()->advance_ns(&domain_->fid, 1000), 0);  // long enough for the write
  EXPECT_EQ(fi_cq_read(a_.cq, &e, 1), 1);
  EXPECT_EQ(NowPs(), start + 1010 * 1000);
}

TEST_F(ProviderTime, PollingACqWithNothingPendingLeavesTheClock) {
  std::vector<uint8_t> src(64, 3);
  target_.assign(64, 0);
  fid_mr* mr = Register(target_.data(), 64, kRemote);
  const uint64_t start = NowPs();
  Post(src, mr);
  fi_cq_data_entry e{};
  for (int i = 0; i < 100; ++i) ASSERT_EQ(fi_cq_read(b_.cq, &e, 1), -FI_EAGAIN);
  EXPECT_EQ(NowPs(), start);
  ASSERT_EQ(Poll(a_.cq, &e), 1);
  EXPECT_GT(NowPs(), start);
}

// The target polled without pause from another thread, as a memnode does:
// the initiator's virtual times are those of a run without it.
TEST_F(ProviderTime, ATargetPollerInAnotherThreadChangesNoTime) {
  std::vector<uint64_t> alone, polled;
  uint64_t t_alone = WriteStream(4096, 200, 4, &alone) + WriteStream(1 << 20, 16, 8, &alone);
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    fi_cq_data_entry e{};
    while (!stop.load()) (void)fi_cq_read(b_.cq, &e, 1);
  });
  uint64_t t_polled = WriteStream(4096, 200, 4, &polled) + WriteStream(1 << 20, 16, 8, &polled);
  stop = true;
  poller.join();
  EXPECT_EQ(t_alone, t_polled);
  EXPECT_EQ(alone, polled);
}

// The same, across processes: two runs of the test above print the same.
TEST(ProviderTimeProcesses, IdenticalProcessesGiveIdenticalTimes) {
  char self[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  const std::string command =
      std::string("'") + self + "' --gtest_filter=ProviderTime.IdenticalRunsGiveIdenticalTimes 2>&1";
  auto run = [&command] {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    char line[512];
    while (fgets(line, sizeof(line), pipe) != nullptr) {
      if (std::strstr(line, "virtual time of the sequence") != nullptr) out += line;
    }
    EXPECT_EQ(pclose(pipe), 0);
    return out;
  };
  std::string first = run(), second = run();
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace lightloop::runtime::testing
