// SPDX-License-Identifier: Apache-2.0
#include "net_address.h"

#include <gtest/gtest.h>

namespace lightloop::runtime {
namespace {

TEST(NetAddressTest, ParsesHostAndPort) {
  auto hp = ParseHostPort("127.0.0.1:7400");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 7400);
  auto v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(NetAddressTest, RejectsBadAddresses) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":7400", "host:70000", "host:74x0", "host:-1"}) {
    auto hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << bad;
    EXPECT_EQ(hp.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace lightloop::runtime
