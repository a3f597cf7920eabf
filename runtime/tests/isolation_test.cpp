// SPDX-License-Identifier: Apache-2.0
// A client reaches only its own regions; a bad access fails cleanly on the
// client and leaves the memnode serving everyone else.
#include <cstring>

#include "memnode_fixture.h"

namespace lightloop::runtime::testing {
namespace {

class IsolationTest : public MemnodeTest {
 protected:
  // A fresh client of another tenant still gets its data through.
  void ExpectMemnodeStillServes() {
    auto other = Connect("bystander");
    ASSERT_TRUE(other);
    ASSERT_OK(other->Health());
    ASSERT_OK_AND_ASSIGN(RemoteRegion region, other->Allocate(1 << 20));
    std::vector<char> data = RandomBytes(100000, 9), back(100000);
    ASSERT_OK_AND_ASSIGN(OpHandle w, other->Write(region, 17, data.data(), data.size()));
    ASSERT_OK(other->Wait(w));
    ASSERT_OK_AND_ASSIGN(OpHandle r, other->Read(region, 17, back.data(), back.size()));
    ASSERT_OK(other->Wait(r));
    EXPECT_EQ(back, data);
  }

  // Runs a write through `region` (possibly forged) and returns its outcome.
  Status WriteThrough(RemoteMemoryClient& client, const RemoteRegion& region, uint64_t offset, size_t len) {
    std::vector<char> data = RandomBytes(len, 3);
    auto w = client.Write(region, offset, data.data(), data.size());
    if (!w.ok()) return w.status();
    return client.Wait(*w);
  }
};

TEST_P(IsolationTest, AnotherTenantCannotSeeOrFreeARegion) {
  auto alice = Connect("alice");
  auto mallory = Connect("mallory");
  ASSERT_TRUE(alice && mallory);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, alice->Allocate(1 << 20, "secret"));
  Status s = mallory->Free(region);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("another tenant"), std::string::npos) << s.message();
  ASSERT_OK_AND_ASSIGN(auto visible, mallory->List());
  EXPECT_TRUE(visible.empty());
  ASSERT_OK_AND_ASSIGN(visible, alice->List());
  ASSERT_EQ(visible.size(), 1u);
  EXPECT_EQ(visible[0].label, "secret");
}

TEST_P(IsolationTest, OutOfBoundsIsRefusedByTheClient) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(4096));
  char buf[16] = {};
  auto w = client->Write(region, 4095, buf, 2);
  EXPECT_EQ(w.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(w.status().message().find("4096 bytes"), std::string::npos) << w.status().message();
  EXPECT_EQ(client->Read(region, 5000, buf, 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(client->Read(region, UINT64_MAX, buf, 2).status().code(), StatusCode::kOutOfRange);
  ASSERT_OK(WriteThrough(*client, region, 4080, 16));  // the last bytes are fine
}

TEST_P(IsolationTest, OutOfBoundsIsRefusedByTheMemnode) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(64 << 10));
  ASSERT_OK_AND_ASSIGN(RemoteRegion neighbour, client->Allocate(64 << 10));
  RemoteRegion forged = region;
  forged.length = 1 << 20;  // the client believes the region is larger than it is
  Status s = WriteThrough(*client, forged, 64 << 10, 4096);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.ToString();
  EXPECT_NE(s.message().find("outside region " + std::to_string(region.id)), std::string::npos)
      << s.message();
  ExpectMemnodeStillServes();
}

TEST_P(IsolationTest, WrongKeyIsRefusedByTheMemnode) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(64 << 10));
  RemoteRegion forged = region;
  forged.key ^= 0x5a5a5a5a5a5aULL;
  Status s = WriteThrough(*client, forged, 0, 4096);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("key"), std::string::npos) << s.message();
  ExpectMemnodeStillServes();
}

TEST_P(IsolationTest, FreedRegionIsScrubbedBeforeReuse) {
  auto alice = Connect("alice");
  auto bob = Connect("bob");
  ASSERT_TRUE(alice && bob);
  ASSERT_OK_AND_ASSIGN(RemoteRegion a, alice->Allocate(256 << 10));
  ASSERT_OK(WriteThrough(*alice, a, 0, 256 << 10));
  ASSERT_OK(alice->Free(a));
  ASSERT_OK_AND_ASSIGN(RemoteRegion b, bob->Allocate(256 << 10));
  std::vector<char> back(256 << 10, 1);
  ASSERT_OK_AND_ASSIGN(OpHandle r, bob->Read(b, 0, back.data(), back.size()));
  ASSERT_OK(bob->Wait(r));
  EXPECT_EQ(back, std::vector<char>(256 << 10, 0));
}

LIGHTLOOP_OVER_PROVIDERS(IsolationTest);

}  // namespace
}  // namespace lightloop::runtime::testing
