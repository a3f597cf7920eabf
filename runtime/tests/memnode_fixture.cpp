// SPDX-License-Identifier: Apache-2.0
#include "memnode_fixture.h"

namespace lightloop::runtime::testing {

std::vector<char> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<char> out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = gen();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(gen());
  return out;
}

void MemnodeTest::SetUp() {
  memnode_ = SpawnMemnode();
  ASSERT_NE(memnode_, nullptr);
}

void MemnodeTest::TearDown() {
  memnode_.reset();
}

std::unique_ptr<MemnodeProcess> MemnodeTest::SpawnMemnode(const std::string& capacity, size_t endpoints) {
  MemnodeProcess::Options o{
      .binary = LIGHTLOOP_BIN, .provider = provider(), .capacity = capacity, .endpoints = endpoints};
  auto node = MemnodeProcess::Spawn(o);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? std::move(node).value() : nullptr;
}

RemoteMemoryClient::Options MemnodeTest::ClientOptions(const std::string& tenant) const {
  RemoteMemoryClient::Options o;
  o.memnode = memnode_->control_address();
  o.tenant = tenant;
  o.provider = provider();
  return o;
}

std::unique_ptr<RemoteMemoryClient> MemnodeTest::Connect(const std::string& tenant, size_t depth,
                                                         size_t max_chunk) {
  RemoteMemoryClient::Options o = ClientOptions(tenant);
  o.depth = depth;
  o.max_chunk = max_chunk;
  auto client = RemoteMemoryClient::Connect(o);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

}  // namespace lightloop::runtime::testing
