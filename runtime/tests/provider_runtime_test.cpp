// SPDX-License-Identifier: Apache-2.0
// The runtime's own libfabric layer (lightloop/runtime/fabric.h: its hints,
// MR-mode handling, endpoints) on the sim target, in one process. The
// remote-memory client needs a memnode process, which the in-process fabric
// cannot reach yet (docs/targets.md); this is the layer under it.
#include <cstring>
#include <vector>

#include "lightloop/runtime/fabric.h"
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

}  // namespace
}  // namespace lightloop::runtime::testing
