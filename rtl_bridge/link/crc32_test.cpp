// SPDX-License-Identifier: Apache-2.0
#include "lightloop/rtl_bridge/link/crc32.h"

#include <gtest/gtest.h>

#include <string_view>

namespace lightloop::rtl_bridge {
namespace {

TEST(Crc32Test, MatchesTheStandardCheckValue) {
  std::string_view check = "123456789";
  EXPECT_EQ(Crc32({reinterpret_cast<const uint8_t*>(check.data()), check.size()}), 0xCBF43926u);
}

TEST(Crc32Test, EmptyInputIsZero) {
  EXPECT_EQ(Crc32({}), 0u);
}

TEST(Crc32Test, FlitCrcCoversSequenceThenPayloadLittleEndian) {
  const uint8_t bytes[9] = {0x07, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  EXPECT_EQ(FlitCrc(0x07, 0x1122334455667788ull), Crc32(bytes));
}

}  // namespace
}  // namespace lightloop::rtl_bridge
