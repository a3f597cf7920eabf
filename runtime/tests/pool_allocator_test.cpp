// SPDX-License-Identifier: Apache-2.0
#include "memnode/pool_allocator.h"

#include <gtest/gtest.h>

namespace lightloop::runtime {
namespace {

TEST(PoolAllocatorTest, AllocatesAlignedRangesUntilFull) {
  PoolAllocator pool(1 << 20, 4096);
  auto a = pool.Allocate(1);
  auto b = pool.Allocate(4097);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 4096u);
  EXPECT_EQ(pool.used(), 3u * 4096);
  EXPECT_FALSE(pool.Allocate((1 << 20) - 3 * 4096 + 1));  // one byte too many
  EXPECT_TRUE(pool.Allocate((1 << 20) - 3 * 4096));       // exactly the rest
  EXPECT_FALSE(pool.Allocate(1));
  EXPECT_EQ(pool.LargestFree(), 0u);
}

TEST(PoolAllocatorTest, RejectsZeroAndOversize) {
  PoolAllocator pool(8192, 4096);
  EXPECT_FALSE(pool.Allocate(0));
  EXPECT_FALSE(pool.Allocate(8193));
  EXPECT_TRUE(pool.Allocate(8192));
}

TEST(PoolAllocatorTest, CoalescesFreedNeighbours) {
  PoolAllocator pool(4 * 4096, 4096);
  auto a = pool.Allocate(4096), b = pool.Allocate(4096), c = pool.Allocate(4096), d = pool.Allocate(4096);
  ASSERT_TRUE(a && b && c && d);
  pool.Release(*b, 4096);
  pool.Release(*d, 4096);
  EXPECT_EQ(pool.LargestFree(), 4096u);  // two holes, not adjacent
  EXPECT_FALSE(pool.Allocate(8192));
  pool.Release(*c, 4096);  // joins b and d
  EXPECT_EQ(pool.LargestFree(), 3u * 4096);
  pool.Release(*a, 4096);
  EXPECT_EQ(pool.LargestFree(), 4u * 4096);
  EXPECT_EQ(pool.used(), 0u);
  EXPECT_EQ(*pool.Allocate(4 * 4096), 0u);
}

}  // namespace
}  // namespace lightloop::runtime
