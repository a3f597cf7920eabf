// SPDX-License-Identifier: Apache-2.0
// Random data written to a memnode and read back, byte for byte, over each
// provider: odd sizes and offsets, chunking, deep queues, many clients.
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "memnode_fixture.h"

namespace lightloop::runtime::testing {
namespace {

class RoundTripTest : public MemnodeTest {};

// Writes `data` at `offset`, reads it back through `reader`, compares.
void ExpectRoundTrip(RemoteMemoryClient& writer, RemoteMemoryClient& reader, const RemoteRegion& region,
                     uint64_t offset, const std::vector<char>& data) {
  ASSERT_OK_AND_ASSIGN(OpHandle w, writer.Write(region, offset, data.data(), data.size()));
  ASSERT_OK(writer.Wait(w));
  std::vector<char> back(data.size(), 0x55);
  ASSERT_OK_AND_ASSIGN(OpHandle r, reader.Read(region, offset, back.data(), back.size()));
  ASSERT_OK(reader.Wait(r));
  ASSERT_EQ(std::memcmp(back.data(), data.data(), data.size()), 0)
      << data.size() << " bytes at offset " << offset << " came back different";
}

TEST_P(RoundTripTest, OddSizesAndOffsetsAtDepthOneAndSixtyFour) {
  const std::vector<uint64_t> sizes{1, 3, 63, 4095, 4097, 65537, (1 << 20) + 7, (16 << 20) + 3, 64 << 20};
  for (size_t depth : {1, 64}) {
    auto writer = Connect("writer", depth);
    auto reader = Connect("writer", depth);  // same tenant, other endpoint: the bytes are remote
    ASSERT_TRUE(writer && reader);
    ASSERT_OK_AND_ASSIGN(RemoteRegion region, writer->Allocate((64 << 20) + 8192));
    for (uint64_t size : sizes) {
      uint64_t offset = (size * 7 + 13) % 8191;
      SCOPED_TRACE("depth " + std::to_string(depth) + " size " + std::to_string(size));
      ExpectRoundTrip(*writer, *reader, region, offset, RandomBytes(size, size + depth));
    }
    ASSERT_OK(writer->Free(region));
  }
}

// A real provider has no virtual clock: the runtime's Clock is the wall clock.
TEST_P(RoundTripTest, TheClientClockIsTheWallClock) {
  auto client = Connect("clock", 1);
  ASSERT_TRUE(client);
  const Clock& clock = client->clock();
  EXPECT_FALSE(clock.is_virtual());
  EXPECT_STREQ(clock.kind(), "wall");
  const uint64_t t0 = clock.now_ns();
  const auto wall0 = std::chrono::steady_clock::now();
  clock.advance_ns(2'000'000);  // waits: 2 ms of "compute"
  EXPECT_GE(clock.now_ns() - t0, 2'000'000u);
  EXPECT_GE(std::chrono::steady_clock::now() - wall0, std::chrono::milliseconds(2));
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(4096));
  std::vector<char> data = RandomBytes(64, 5);
  const uint64_t t1 = clock.now_ps();
  ASSERT_OK_AND_ASSIGN(OpHandle w, client->Write(region, 0, data.data(), data.size()));
  ASSERT_OK(client->Wait(w));
  EXPECT_GT(clock.now_ps(), t1);
  EXPECT_EQ(clock.now_ps() % 1000, 0u) << "whole nanoseconds on the wall";
}

TEST_P(RoundTripTest, SplitsTransfersAboveTheChunkSize) {
  constexpr size_t kChunk = 65536 + 3;
  auto client = Connect("chunks", 4, kChunk);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->chunk_size(), kChunk);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(8 << 20));
  std::vector<char> data = RandomBytes((5 << 20) + 11, 42);
  ExpectRoundTrip(*client, *client, region, 1001, data);
  // Reading a part that starts inside one chunk and ends inside another.
  std::vector<char> part(3 * kChunk + 5);
  ASSERT_OK_AND_ASSIGN(OpHandle r, client->Read(region, 1001 + kChunk / 2, part.data(), part.size()));
  ASSERT_OK(client->Wait(r));
  EXPECT_EQ(std::memcmp(part.data(), data.data() + kChunk / 2, part.size()), 0);
}

TEST_P(RoundTripTest, StripesAcrossTheMemnodesEndpoints) {
  memnode_ = SpawnMemnode("64MiB", 3);
  ASSERT_TRUE(memnode_);
  address_ = memnode_->control_address();
  EXPECT_NE(memnode_->ready_line().find("endpoints=3"), std::string::npos) << memnode_->ready_line();
  RemoteMemoryClient::Options o = ClientOptions();
  o.stripe_bytes = 65536;
  o.depth = 5;
  ASSERT_OK_AND_ASSIGN(auto client, RemoteMemoryClient::Connect(o));
  EXPECT_EQ(client->endpoints(), 3u);
  EXPECT_EQ(client->chunk_size(), 65536u);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(8 << 20));
  ExpectRoundTrip(*client, *client, region, 333, RandomBytes((5 << 20) + 1, 77));
}

// The memnode's defaults: shm gets 8 endpoints (fewer where /dev/shm is
// small) driven by one polling thread
// per four cores (its clients share the host), tcp 2 endpoints each with a
// thread blocked on its CQ; either way every endpoint carries data.
TEST_P(RoundTripTest, DefaultEndpointsAndProgressThreadsFollowTheProvider) {
  if (provider() != "tcp" && provider() != "shm") GTEST_SKIP() << "the nic target's providers only";
  const std::string& ready = memnode_->ready_line();
  const bool shm = provider() == "shm";
  const size_t cores = std::thread::hardware_concurrency();
  struct statvfs fs {};
  ASSERT_EQ(statvfs("/dev/shm", &fs), 0);
  const bool roomy = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize >= (4ull << 30);
  RemoteMemoryClient::Options o = ClientOptions();
  o.stripe_bytes = 65536;
  ASSERT_OK_AND_ASSIGN(auto client, RemoteMemoryClient::Connect(o));
  const size_t eps = client->endpoints();
  if (!shm) {
    EXPECT_EQ(eps, 2u);
  } else if (roomy) {
    EXPECT_EQ(eps, 8u);
  } else {  // a small /dev/shm (a container's) takes fewer
    EXPECT_GE(eps, 1u);
    EXPECT_LE(eps, 8u);
  }
  EXPECT_NE(ready.find(" endpoints=" + std::to_string(eps) + " "), std::string::npos) << ready;
  const size_t threads = shm ? std::max<size_t>(1, cores / 4) : 2;
  EXPECT_NE(ready.find(" progress_threads=" + std::to_string(std::min(threads, eps))), std::string::npos)
      << ready;
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(8 << 20));
  ExpectRoundTrip(*client, *client, region, 4099, RandomBytes((3 << 20) + 5, 78));
}

TEST_P(RoundTripTest, ManyOperationsOutstandingBeyondTheDepth) {
  constexpr size_t kOps = 300, kSize = 4096 + 17;
  auto client = Connect("deep", 8);
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(kOps * kSize));
  std::vector<char> data = RandomBytes(kOps * kSize, 7);
  std::vector<OpHandle> handles;
  for (size_t i = 0; i < kOps; ++i) {
    ASSERT_OK_AND_ASSIGN(OpHandle h, client->Write(region, i * kSize, data.data() + i * kSize, kSize));
    handles.push_back(h);
  }
  ASSERT_OK(client->Wait(handles[kOps / 2]));  // out of order is fine
  ASSERT_OK(client->WaitAll());
  EXPECT_EQ(client->Wait(handles[0]).code(), StatusCode::kNotFound);  // already collected
  std::vector<char> back(data.size());
  ASSERT_OK_AND_ASSIGN(OpHandle r, client->Read(region, 0, back.data(), back.size()));
  ASSERT_OK(client->Wait(r));
  EXPECT_EQ(back, data);
  EXPECT_EQ(client->bytes_written(), data.size());
  EXPECT_EQ(client->bytes_read(), data.size());
}

TEST_P(RoundTripTest, ManyClientsAtOnce) {
  constexpr int kClients = 6;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = RemoteMemoryClient::Connect(ClientOptions("tenant-" + std::to_string(c)));
      if (!client.ok()) return void(errors[c] = client.status().ToString());
      auto region = (*client)->Allocate(4 << 20);
      if (!region.ok()) return void(errors[c] = region.status().ToString());
      for (int round = 0; round < 5; ++round) {
        std::vector<char> data = RandomBytes((1 << 20) + c * 1000 + round, c * 100 + round);
        std::vector<char> back(data.size());
        auto w = (*client)->Write(*region, round * 4096 + c, data.data(), data.size());
        Status s = w.ok() ? (*client)->Wait(*w) : w.status();
        auto r = (*client)->Read(*region, round * 4096 + c, back.data(), back.size());
        if (s.ok()) s = r.ok() ? (*client)->Wait(*r) : r.status();
        if (!s.ok()) return void(errors[c] = s.ToString());
        if (back != data) return void(errors[c] = "data mismatch in round " + std::to_string(round));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(errors[c], "") << "client " << c;
  auto observer = Connect("observer");
  ASSERT_TRUE(observer);
  ASSERT_OK_AND_ASSIGN(MemnodeStats stats, observer->Stats());
  EXPECT_EQ(stats.tenants, static_cast<uint32_t>(kClients));
  EXPECT_EQ(stats.regions, static_cast<uint32_t>(kClients));
}

LIGHTLOOP_OVER_PROVIDERS(RoundTripTest);

}  // namespace
}  // namespace lightloop::runtime::testing
