// SPDX-License-Identifier: Apache-2.0
// The runtime on the sim target, in one process: its own libfabric layer
// (lightloop/runtime/fabric.h: hints, MR-mode handling, endpoints), its
// Clock on the provider's virtual clock, and a RemoteMemoryClient against a
// memnode started in this process (the in-process fabric cannot reach a
// memnode process yet, docs/targets.md).
#include <cstring>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/runtime/clock.h"
#include "lightloop/runtime/fabric.h"
#include "lightloop/runtime/memnode.h"
#include "lightloop/runtime/remote_memory.h"
#include "provider_fixture.h"

namespace lightloop::runtime::testing {
namespace {

TEST(ProviderRuntimeLayer, RuntimeWrappersMoveBytesAndReportErrors) {
  StatusOr<InfoPtr> info = FindProvider({.provider = "lightloop"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(CoreProviderName((*info)->fabric_attr->prov_name), "lightloop");
  StatusOr<std::unique_ptr<FabricDomain>> domain = FabricDomain::Open(std::move(*info));
  ASSERT_TRUE(domain.ok()) << domain.status().ToString();
  FabricDomain& d = **domain;
  auto a = RdmEndpoint::Open(d, {});
  auto b = RdmEndpoint::Open(d, {.cq_size = 64, .cq_wait = true});  // falls back to polling
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE((*b)->cq().can_wait());

  std::vector<uint8_t> region(1 << 16, 0), src(4096);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 13);
  auto mr = d.RegisterMemory(region.data(), region.size(), FI_REMOTE_READ | FI_REMOTE_WRITE);
  ASSERT_TRUE(mr.ok()) << mr.status().ToString();
  auto peer = (*a)->InsertPeer((*b)->address());
  ASSERT_TRUE(peer.ok());

  int ctx = 0;
  ASSERT_EQ(fi_write((*a)->ep(), src.data(), src.size(), nullptr, *peer, d.RemoteAddress(*mr, 1024),
                     mr->key(), &ctx),
            0);
  fi_cq_entry e{};
  ssize_t n = 0;
  for (int i = 0; i < 1000 && (n = (*a)->cq().Read(&e, 1)) == -FI_EAGAIN; ++i) {
  }
  ASSERT_EQ(n, 1);
  EXPECT_EQ(e.op_context, &ctx);
  EXPECT_EQ(0, std::memcmp(region.data() + 1024, src.data(), src.size()));

  ASSERT_EQ(fi_read((*a)->ep(), src.data(), 64, nullptr, *peer, d.RemoteAddress(*mr, region.size() - 32),
                    mr->key(), &ctx),
            0);
  for (int i = 0; i < 1000 && (n = (*a)->cq().Read(&e, 1)) == -FI_EAGAIN; ++i) {
  }
  ASSERT_EQ(n, -FI_EAVAIL);
  StatusOr<fi_cq_err_entry> err = (*a)->cq().ReadError();
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->err, FI_EACCES);
  EXPECT_NE((*a)->cq().ErrorText(*err).find("outside"), std::string::npos);
}

// One write of `bytes` on the idle default node: data out, memory, ack back.
double WriteClosedFormNs(uint64_t bytes) {
  hw_models::NodeConfig node = hw_models::ReadNode(LIGHTLOOP_DEFAULT_NODE_CONFIG);
  hw_models::LinkClosedForm cf(*node.link->photonic());
  return cf.TransferLatencyNs(bytes) + node.memory->IdleLatencyNs(true, bytes) + cf.TransferLatencyNs(1);
}

TEST(ProviderRuntimeLayer, TheDomainClockIsVirtual) {
  StatusOr<InfoPtr> info = FindProvider({.provider = "lightloop"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  StatusOr<std::unique_ptr<FabricDomain>> domain = FabricDomain::Open(std::move(*info));
  ASSERT_TRUE(domain.ok()) << domain.status().ToString();
  FabricDomain& d = **domain;
  const Clock& clock = d.clock();
  ASSERT_TRUE(clock.is_virtual());
  EXPECT_STREQ(clock.kind(), "virtual");
  auto a = RdmEndpoint::Open(d, {});
  auto b = RdmEndpoint::Open(d, {});
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<uint8_t> region(64, 0), src(64, 9);
  auto mr = d.RegisterMemory(region.data(), region.size(), FI_REMOTE_WRITE);
  auto peer = (*a)->InsertPeer((*b)->address());
  ASSERT_TRUE(mr.ok() && peer.ok());

  const uint64_t t0 = clock.now_ps();
  ASSERT_EQ(fi_write((*a)->ep(), src.data(), 64, nullptr, *peer, d.RemoteAddress(*mr, 0), mr->key(), nullptr),
            0);
  fi_cq_entry e{};
  ssize_t n = 0;
  for (int i = 0; i < 1000 && (n = (*a)->cq().Read(&e, 1)) == -FI_EAGAIN; ++i) {
  }
  ASSERT_EQ(n, 1);
  const double expected_ns = WriteClosedFormNs(64);
  EXPECT_NEAR(static_cast<double>(clock.now_ps() - t0) / 1000, expected_ns, 1e-3) << "exactly the model";
  EXPECT_EQ(region, src);
  // Compute time: exactly what was asked for, at once in wall time.
  const uint64_t before = clock.now_ns();
  clock.advance_ns(5000);
  EXPECT_EQ(clock.now_ns() - before, 5000u);
}

// The runtime unchanged above the provider: a memnode in this process on the
// lightloop provider, a client on the same simulated fabric, virtual time.
TEST(ProviderRuntimeLayer, RemoteMemoryClientOnAnInProcessMemnode) {
  StatusOr<std::unique_ptr<Memnode>> node =
      Memnode::Start({.provider = "lightloop", .listen = "127.0.0.1:0", .capacity = 16 << 20});
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ((*node)->provider(), "lightloop");
  auto client = RemoteMemoryClient::Connect({.memnode = (*node)->control_address(), .tenant = "sim"});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  RemoteMemoryClient& c = **client;
  const Clock& clock = c.clock();
  ASSERT_TRUE(clock.is_virtual());
  StatusOr<RemoteRegion> region = c.Allocate(1 << 20);
  ASSERT_TRUE(region.ok()) << region.status().ToString();

  std::vector<char> src(64), back(64, 0);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>(i * 7 + 1);
  const uint64_t t0 = clock.now_ps();
  StatusOr<OpHandle> w = c.Write(*region, 4096, src.data(), src.size());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(c.Wait(*w).ok());
  // The memnode's progress threads poll all along; the time is still the model's.
  EXPECT_NEAR(static_cast<double>(clock.now_ps() - t0) / 1000, WriteClosedFormNs(64), 1e-3);
  StatusOr<OpHandle> r = c.Read(*region, 4096, back.data(), back.size());
  ASSERT_TRUE(r.ok() && c.Wait(*r).ok());
  EXPECT_EQ(back, src);
  EXPECT_TRUE(c.Free(*region).ok());
}

}  // namespace
}  // namespace lightloop::runtime::testing
