// SPDX-License-Identifier: Apache-2.0
// The gRPC control plane: allocation, listing, stats, and its errors.
#include <cstring>

#include "memnode_fixture.h"

namespace lightloop::runtime::testing {
namespace {

class ControlPlaneTest : public MemnodeTest {};

TEST_P(ControlPlaneTest, AllocateListStatsFree) {
  auto client = Connect("alice");
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion a, client->Allocate(1 << 20, "kv"));
  ASSERT_OK_AND_ASSIGN(RemoteRegion b, client->Allocate(std::string("3MiB"), "weights"));
  EXPECT_EQ(a.length, 1u << 20);
  EXPECT_EQ(b.length, 3u << 20);
  EXPECT_NE(a.key, b.key);  // each region its own registration
  ASSERT_OK_AND_ASSIGN(auto regions, client->List());
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[0].label, "kv");
  EXPECT_EQ(regions[1].label, "weights");

  std::vector<char> data = RandomBytes(1000, 1);
  ASSERT_OK_AND_ASSIGN(OpHandle w, client->Write(a, 0, data.data(), data.size()));
  ASSERT_OK(client->Wait(w));
  ASSERT_OK_AND_ASSIGN(OpHandle r, client->Read(a, 0, data.data(), 500));
  ASSERT_OK(client->Wait(r));
  ASSERT_OK_AND_ASSIGN(MemnodeStats stats, client->Stats());
  EXPECT_EQ(stats.capacity_bytes, 512u << 20);
  EXPECT_EQ(stats.allocated_bytes, 4u << 20);
  EXPECT_EQ(stats.free_bytes, (512u << 20) - (4u << 20));
  EXPECT_EQ(stats.regions, 2u);
  EXPECT_EQ(stats.tenants, 1u);
  EXPECT_EQ(stats.bytes_written, 1000u);
  EXPECT_EQ(stats.bytes_read, 500u);
  EXPECT_EQ(stats.provider.substr(0, stats.provider.find(";")), provider());

  ASSERT_OK(client->Free(a));
  ASSERT_OK_AND_ASSIGN(regions, client->List());
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].id, b.id);
  EXPECT_EQ(client->Free(a).code(), StatusCode::kNotFound);  // twice
}

TEST_P(ControlPlaneTest, UnknownRegionIsNotFound) {
  auto client = Connect();
  ASSERT_TRUE(client);
  RemoteRegion ghost;
  ghost.id = 987654;
  Status s = client->Free(ghost);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("987654"), std::string::npos) << s.message();
}

TEST_P(ControlPlaneTest, CapacityExhaustedSaysWhatIsFree) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion most, client->Allocate(500 << 20));
  auto more = client->Allocate(13 << 20);
  EXPECT_EQ(more.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(more.status().message().find("bytes free"), std::string::npos) << more.status().message();
  ASSERT_OK(client->Free(most));
  EXPECT_TRUE(client->Allocate(13 << 20).ok());  // the space came back
}

TEST_P(ControlPlaneTest, MalformedSizesAreInvalidArguments) {
  auto client = Connect();
  ASSERT_TRUE(client);
  for (const char* bad : {"2GB?", "", "lots", "0", "1.5"}) {
    auto r = client->Allocate(std::string(bad));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("size_text"), std::string::npos) << r.status().message();
  }
  EXPECT_NE(client->Allocate(std::string("2GB?")).status().message().find("'2GB?'"), std::string::npos);
  EXPECT_EQ(client->Allocate(uint64_t{0}).status().code(), StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto regions, client->List());
  EXPECT_TRUE(regions.empty());  // nothing half-allocated
}

TEST_P(ControlPlaneTest, EmptyTenantIsRefused) {
  auto client = RemoteMemoryClient::Connect(ClientOptions(""));
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(client.status().message().find("tenant"), std::string::npos);
}

TEST_P(ControlPlaneTest, UnknownProviderListsTheAvailableOnes) {
  RemoteMemoryClient::Options o = ClientOptions();
  o.provider = "nosuch";
  auto client = RemoteMemoryClient::Connect(o);
  EXPECT_EQ(client.status().code(), StatusCode::kNotFound);
  const std::string& m = client.status().message();
  EXPECT_NE(m.find("'nosuch'"), std::string::npos) << m;
  EXPECT_NE(m.find("tcp"), std::string::npos) << m;
  EXPECT_NE(m.find("shm"), std::string::npos) << m;
}

TEST_P(ControlPlaneTest, ProviderOtherThanTheMemnodesIsRefused) {
  RemoteMemoryClient::Options o = ClientOptions();
  o.provider = provider() == "tcp" ? "shm" : "tcp";
  auto client = RemoteMemoryClient::Connect(o);
  EXPECT_EQ(client.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(client.status().message().find(provider()), std::string::npos) << client.status().message();
}

TEST_P(ControlPlaneTest, NothingListeningIsUnavailableQuickly) {
  RemoteMemoryClient::Options o = ClientOptions();
  memnode_.reset();  // the port is free again
  o.connect_timeout = std::chrono::milliseconds(500);
  auto start = std::chrono::steady_clock::now();
  auto client = RemoteMemoryClient::Connect(o);
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(client.status().message().find(o.memnode), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

LIGHTLOOP_OVER_PROVIDERS(ControlPlaneTest);

}  // namespace
}  // namespace lightloop::runtime::testing
