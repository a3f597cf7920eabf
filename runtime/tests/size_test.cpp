// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/size.h"

#include <gtest/gtest.h>

namespace lightloop::runtime {
namespace {

TEST(SizeTest, ParsesBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("4K"), 4096u);
  EXPECT_EQ(*ParseSize("64KiB"), 65536u);
  EXPECT_EQ(*ParseSize("1M"), 1048576u);
  EXPECT_EQ(*ParseSize("2GiB"), 2147483648u);
  EXPECT_EQ(*ParseSize("2gib"), 2147483648u);
  EXPECT_EQ(*ParseSize("2GB"), 2000000000u);
  EXPECT_EQ(*ParseSize("1.5MB"), 1500000u);
  EXPECT_EQ(*ParseSize("1.5M"), 1572864u);
  EXPECT_EQ(*ParseSize(" 16 MiB "), 16777216u);
  EXPECT_EQ(*ParseSize("1T"), 1099511627776u);
}

TEST(SizeTest, RejectsMalformedSizesNamingTheText) {
  for (const char* bad : {"2GB?", "", "GB", "-1", "1.5", "1.0000001K", "12 bananas", "1e3", "99999999999T"}) {
    StatusOr<uint64_t> r = ParseSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(SizeTest, ParsesLists) {
  auto sizes = ParseSizeList("4K,64K,1M,16M");
  ASSERT_TRUE(sizes.ok());
  EXPECT_EQ(*sizes, (std::vector<uint64_t>{4096, 65536, 1 << 20, 16 << 20}));
  EXPECT_FALSE(ParseSizeList("4K,,1M").ok());
  EXPECT_FALSE(ParseSizeList("4K,x").ok());
}

TEST(SizeTest, FormatsExactBinaryUnits) {
  EXPECT_EQ(FormatSize(64), "64B");
  EXPECT_EQ(FormatSize(4096), "4KiB");
  EXPECT_EQ(FormatSize(1536), "1536B");
  EXPECT_EQ(FormatSize(16u << 20), "16MiB");
  EXPECT_EQ(FormatSize(0), "0B");
}

}  // namespace
}  // namespace lightloop::runtime
